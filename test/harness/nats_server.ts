/** Tests start their own nats-server on an ephemeral loopback port (see runtime/nats_server.ts). */
export { startNatsServer, type NatsServer } from '../../runtime/nats_server.js';
