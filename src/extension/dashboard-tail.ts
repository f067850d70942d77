// events.jsonl, read incrementally (the run folder is the single source of truth: see dashboard-state.ts).
import * as fs from 'node:fs';
import type { WorkerEvent } from '../protocol/events';
import { parseEventLine } from '../protocol/events';


/**
 * Reads events.jsonl incrementally: `readAll` parses the whole file and remembers where its last complete line
 * ends; `readNew` parses what was appended since (a torn last line waits for its newline). A file that shrank
 * (rewritten, deleted) reports `reset`.
 */
export class EventTail {
  offset = 0;
  constructor(readonly file: string) {}

  readAll(): WorkerEvent[] {
    this.offset = 0;
    const r = this.readNew();
    return r === 'reset' ? [] : r;
  }

  readNew(): WorkerEvent[] | 'reset' {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return this.offset > 0 ? 'reset' : [];
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.offset) return 'reset';
      if (size === this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, this.offset + got);
        if (n <= 0) break;
        got += n;
      }
      const end = buf.lastIndexOf(0x0a, got - 1);
      if (end < 0) return [];
      const text = buf.subarray(0, end + 1).toString('utf8');
      this.offset += end + 1;
      return text.split('\n').map(parseEventLine).filter((e): e is WorkerEvent => e !== undefined);
    } finally {
      fs.closeSync(fd);
    }
  }
}
