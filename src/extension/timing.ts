// Imported first by extension.ts, so this line runs before the rest of the bundle is evaluated: the activation
// time logged ("activated in N ms") covers loading the bundle and activate() itself.
export const loadStart = performance.now();
