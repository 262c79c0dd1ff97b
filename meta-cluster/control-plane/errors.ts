/** Errors of the control-plane runtimes, each with a stable `code` and a message naming the pod. */
export type ControlPlaneErrorCode =
  /** A path a container reads is not mounted, or its volume, object or key is missing. */
  | 'MountedFileNotFound'
  /** A volume type kok's runtimes cannot read (only secret and configMap volumes are). */
  | 'UnsupportedVolume'
  /** A required flag is missing or malformed in the container's command or args. */
  | 'InvalidFlag'
  /** A kubeconfig cannot be used (unparsable, no server, an in-cluster name that resolves nowhere). */
  | 'InvalidKubeconfig'
  /** The pod is not one this runtime can run (no container with its image). */
  | 'NotThisImage';

export class ControlPlaneError extends Error {
  constructor(
    readonly code: ControlPlaneErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ControlPlaneError';
  }
}
