// The plotly distributions the webview can import (see webview/plotly.ts): UMD files without types of their own.
declare module 'plotly.js-strict-dist-min' {
  const Plotly: unknown;
  export default Plotly;
}
declare module '*.css';
