import type { ServerResponse } from 'node:http';
import type { Authenticator, Authorizer } from './auth.ts';
import type { Faults } from './faults.ts';
import type { LogProvider } from './logs.ts';
import type { Objects } from './objects.ts';
import type { ResourceRegistry } from './resources.ts';
import type { Store } from './store.ts';
import type { WatchHub } from './watch.ts';

/** What every request handler of one server shares. */
export type Context = {
  registry: ResourceRegistry;
  store: Store;
  objects: Objects;
  hub: WatchHub;
  faults: Faults;
  bookmarkIntervalMs: number;
  maxWatchSeconds: number;
  watchBufferBytes: number;
  logProvider: LogProvider | undefined;
  authenticate: Authenticator;
  authorize: Authorizer;
  serverAddress: string;
  openWatches: Set<ServerResponse>;
};
