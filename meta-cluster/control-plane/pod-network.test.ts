import { describe, expect, it } from 'vitest';
import { PodNetwork } from './pod-network.js';

describe('PodNetwork', () => {
  it('resolves a registered pod address until it is unregistered', () => {
    const net = new PodNetwork();
    const off = net.register('10.64.0.2', 6443, { host: '127.0.0.1', port: 40001 });
    expect(net.resolve('10.64.0.2', 6443)).toEqual({ host: '127.0.0.1', port: 40001 });
    expect(net.resolve('10.64.0.2', 80)).toBeUndefined();
    expect(net.resolve('10.64.0.3', 6443)).toBeUndefined();
    off();
    expect(net.resolve('10.64.0.2', 6443)).toBeUndefined();
  });

  it('keeps the newer route when the older owner of the address unregisters', () => {
    const net = new PodNetwork();
    const offOld = net.register('10.64.0.2', 6443, { host: '127.0.0.1', port: 40001 });
    const offNew = net.register('10.64.0.2', 6443, { host: '127.0.0.1', port: 40002 });
    offOld();
    expect(net.resolve('10.64.0.2', 6443)?.port).toBe(40002);
    offNew();
    expect(net.size).toBe(0);
  });
});
