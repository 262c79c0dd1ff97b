/** Errors of the node agent, each with a stable `code` and a message naming the node or pod. */
export type NodeAgentErrorCode = 'PodNetworkExhausted' | 'NodeIndexExhausted' | 'DuplicateNode' | 'NotStarted';

export class NodeAgentError extends Error {
  constructor(
    readonly code: NodeAgentErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NodeAgentError';
  }
}
