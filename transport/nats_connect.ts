/**
 * Connecting to NATS without leaking a socket. In nats.js 3.4 (transport-node), when the connect
 * timeout wins the race against a first connection — a port that is not NATS, a peer that accepts
 * and says nothing, an address that never answers — the client closes the transport, but the
 * transport's close does nothing for a transport that never finished connecting
 * (nats-io/nats.js#64). Its socket stays open and keeps the process alive long after the error was
 * reported. `connectNats` is transport-node's `connect` with a transport that closes that socket.
 * With nats_bus.ts and nats_kv.ts, the only files that import the NATS client.
 */
import { createConnection, type Socket } from 'node:net';
import type { ConnectionOptions, NatsConnection } from '@nats-io/nats-core';
import { NatsConnectionImpl, setTransportFactory } from '@nats-io/nats-core/internal';
import { NodeTransport, nodeResolveHost } from '@nats-io/transport-node/lib/node_transport.js';

/** transport-node's transport, except that closing it before it connected releases its socket. */
class ClosingNodeTransport extends NodeTransport {
  /** The socket being dialled: NodeTransport keeps it only in a local until the dial completes. */
  private dialing?: Socket;

  // NodeTransport.dial, keeping the socket where close() can reach it.
  override dial(hp: { hostname: string; port: number }): Promise<Socket> {
    return new Promise((resolve, reject) => {
      let dialError: Error | undefined;
      const socket = createConnection(hp.port, hp.hostname, () => {
        socket.removeAllListeners();
        resolve(socket);
      });
      this.dialing = socket;
      socket.on('error', (err) => {
        dialError = err;
      });
      socket.on('close', () => {
        socket.removeAllListeners();
        reject(dialError);
      });
      socket.setNoDelay(true);
    });
  }

  override close(err?: Error): Promise<void> {
    if (this.connected) return super.close(err);
    // Never connected: NodeTransport would return without touching the socket. `discard` marks
    // the transport done (a connect still in flight then destroys what it gets) and destroys the
    // socket it holds; the dial's socket may not have reached it yet.
    this.discard();
    this.dialing?.destroy();
    return Promise.resolve();
  }
}

/** Connects like transport-node's `connect`, with a transport that never leaks a failed socket. */
export function connectNats(opts: ConnectionOptions): Promise<NatsConnection> {
  // The factory is global to the NATS client; transport-node's connect sets it on every call too.
  setTransportFactory({ factory: () => new ClosingNodeTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(opts);
}
