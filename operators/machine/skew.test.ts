import { describe, expect, it } from 'vitest';
import { kubeletSkewProblem } from './skew.js';

describe('kubeletSkewProblem', () => {
  it.each([
    ['1.31', '1.31'],
    ['1.28', '1.31'],
    ['1.31.2', '1.31.10'],
    ['1.29.1', '1.32'],
  ])('lets kubelet %s join control plane %s', (kubelet, cp) => {
    expect(kubeletSkewProblem(kubelet, cp)).toBeUndefined();
  });

  it.each([
    ['1.32', '1.31', /newer than the control plane 1\.31\.10.*1\.31 or older/],
    ['1.28', '1.32', /4 minor versions older.*at most 3.*1\.29 or newer/],
    ['1.20', '1.31', /"1\.20" is not supported/],
  ])('refuses kubelet %s on control plane %s', (kubelet, cp, message) => {
    expect(kubeletSkewProblem(kubelet, cp)).toMatch(message);
  });
});
