/**
 * kok itself on a meta-cluster: `kok synth blueprints/examples/kok-install.ts | kubectl apply -f -`
 * (./kok-install.yaml is that output). The image is built from the Dockerfile at the repository root.
 */
import type { App } from 'cdk8s';
import { KokInstall } from '../index.js';

export default function install(app: App): void {
  new KokInstall(app, 'kok');
}
