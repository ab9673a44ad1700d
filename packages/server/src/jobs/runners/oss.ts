// pull-from-oss / push-to-oss: validated at creation; the transfer itself arrives with the
// OSS transfer issue. Until then they fail at once with a clear message (never hang).
import { failed, type JobRunner } from '../types.js';

export const OSS_NOT_CONFIGURED = 'OSS transfers are not configured on this server';

export const ossTransferNotConfigured: JobRunner = async () => failed(OSS_NOT_CONFIGURED);
