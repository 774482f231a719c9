/** A JetStream stream's info read over the bus (`$JS.API.STREAM.INFO`), for tests and tools that check replicas and bytes. */
import type { Bus } from '../../transport/bus.js';

/** What the tests read of a stream's info. */
export interface StreamInfo {
  config: { num_replicas: number; allow_direct?: boolean };
  state: { messages: number; bytes: number; last_seq: number };
  cluster?: { leader?: string; replicas?: { name: string; current: boolean; offline?: boolean; lag?: number }[] };
}

/** The info of `stream`; throws with the server's description when it answers an error. */
export async function streamInfo(bus: Bus, stream: string): Promise<StreamInfo> {
  const r = await bus.request(`$JS.API.STREAM.INFO.${stream}`, new Uint8Array(), { timeoutMs: 3000 });
  const body = JSON.parse(new TextDecoder().decode(r.data)) as StreamInfo & { error?: { description: string } };
  if (body.error) throw new Error(`stream info ${stream}: ${body.error.description}`);
  return body;
}

/** The names of the durable consumers on `stream` (`$JS.API.CONSUMER.NAMES`, first page of 1,024). */
export async function consumerNames(bus: Bus, stream: string): Promise<string[]> {
  const r = await bus.request(`$JS.API.CONSUMER.NAMES.${stream}`, new Uint8Array(), { timeoutMs: 3000 });
  const body = JSON.parse(new TextDecoder().decode(r.data)) as {
    consumers?: string[];
    error?: { description: string };
  };
  if (body.error) throw new Error(`consumer names ${stream}: ${body.error.description}`);
  return body.consumers ?? [];
}
