// The one plotly import of the webview: plotly.js-strict-dist-min, bundled into dist/webview.js by esbuild. It is the
// only published distribution whose scattergl runs under a CSP without 'unsafe-eval' (its WebGL shaders are
// precompiled; the gl2d partial bundle builds them with new Function and shows "WebGL is not supported"), and it
// also has histogram and bar. Typed loosely: just what we call.
import PlotlyModule from 'plotly.js-strict-dist-min';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Trace = Record<string, any>;
export type Layout = Record<string, any>;
export interface PlotlyEvent { points?: Array<{ customdata?: unknown; pointIndex?: number; curveNumber?: number; data?: Trace }>; event?: MouseEvent }
export interface GraphDiv extends HTMLDivElement {
  data?: Trace[];
  layout?: Layout;
  on(event: string, cb: (e: any) => void): void;
}
export interface PlotlyApi {
  react(gd: HTMLElement, data: Trace[], layout: Layout, config?: Record<string, unknown>): Promise<GraphDiv>;
  extendTraces(gd: HTMLElement, update: Record<string, unknown[][]>, indices: number[], maxPoints?: number): Promise<GraphDiv>;
  relayout(gd: HTMLElement, update: Record<string, unknown>): Promise<GraphDiv>;
  restyle(gd: HTMLElement, update: Record<string, unknown>, indices?: number[]): Promise<GraphDiv>;
  toImage(gd: HTMLElement, opts: { format: 'png'; width?: number; height?: number; scale?: number }): Promise<string>;
  purge(gd: HTMLElement): void;
  Plots: { resize(gd: HTMLElement): Promise<void> | void };
  version: string;
}
export const Plotly = PlotlyModule as unknown as PlotlyApi;
