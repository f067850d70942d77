// Text for a terminal: a file name may hold control characters (ESC sequences that retitle or clear the terminal,
// CR that overwrites a line, BEL, …). Everything we print that holds a path goes through one of these.

// C0 controls, DEL and the C1 controls (U+0080–U+009F: some terminals read U+009B as CSI).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

function escape(c: string): string {
  const code = c.charCodeAt(0);
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A path (or any one-line field) with every control character escaped: `a\x1b[2Jb.png`, `x\ny` → `x\\ny`. */
export function printablePath(s: string): string {
  return s.replace(CONTROL, escape);
}

/** A message for the terminal: control characters escaped, except the line breaks and tabs that lay it out. */
export function printableText(s: string): string {
  return s.replace(CONTROL_BUT_LINES, escape);
}
