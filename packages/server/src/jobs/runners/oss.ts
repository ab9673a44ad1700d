// pull-from-oss / push-to-oss: the runners for the hosts configured on this server (see
// oss-config.ts). A job names its store by OSSHost; only configured hosts are accepted
// when the job is created, and the runners connect to nothing else.
import type { OssHosts } from '../../oss-config.js';
import type { JobRunner } from '../types.js';
import { pullFromOss } from './oss-pull.js';
import { pushToOss } from './oss-push.js';

export function ossTransferRunners(hosts: OssHosts): { 'pull-from-oss': JobRunner; 'push-to-oss': JobRunner } {
  return { 'pull-from-oss': pullFromOss(hosts), 'push-to-oss': pushToOss(hosts) };
}
