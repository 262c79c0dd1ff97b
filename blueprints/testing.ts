/** Test helpers for constructs: synthesise a scope the way `kok synth` does and pick objects out. */
import { App, Chart, Testing } from 'cdk8s';

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

/** Every object the app's charts synthesise, in synth order. */
export function synthApp(app: App): Manifest[] {
  return app.charts.flatMap((c) => Testing.synth(c) as Manifest[]);
}

/** One object by kind and name; throws naming what was there when it is missing. */
export function find(objects: Manifest[], kind: string, name: string): Manifest {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

export const newApp = (): App => Testing.app();
export const newChart = (app: App = newApp()): Chart => new Chart(app, 'test');
