/**
 * `kok synth <file>`: a blueprint module's charts as YAML. The module's default export is a
 * function `(app: App) => void` declaring charts on the App; output is deterministic (cdk8s sorts
 * keys; names come from the blueprint), so it can be committed and diffed.
 */
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'cdk8s';

export type Blueprint = (app: App) => void | Promise<void>;

/** The charts a blueprint declares, on a fresh App. */
export async function loadBlueprint(file: string): Promise<App> {
  const mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new Error(`${file}: a blueprint's default export must be a function (app: App) => void that declares charts on the app`);
  }
  const app = new App();
  await (mod.default as Blueprint)(app);
  if (app.charts.length === 0) throw new Error(`${file}: the blueprint declared no chart`);
  return app;
}

export async function synthFile(file: string): Promise<string> {
  const app = await loadBlueprint(file);
  const shown = relative(process.cwd(), resolve(file)).split('\\').join('/');
  return `# Synthesised by \`kok synth ${shown}\`: change the blueprint and synthesise again rather than editing this.\n${app.synthYaml()}`;
}
