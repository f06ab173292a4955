import { migration0001 } from './0001-init';
import { migration0002 } from './0002-final-metrics';
import { migration0003 } from './0003-curves';
import type { Migration } from './types';

export type { Migration } from './types';

/** Every migration, in order. Append new ones; never edit a released one. */
export const MIGRATIONS: readonly Migration[] = [migration0001, migration0002, migration0003];

/** The schema version this build of Topiary writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
