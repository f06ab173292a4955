import type Database from 'better-sqlite3';

/**
 * One schema step. `up` runs inside a transaction together with the `user_version` bump, so a
 * crash mid-migration leaves the previous version intact.
 */
export interface Migration {
  /** 1, 2, 3... ; equals `PRAGMA user_version` after it ran. */
  version: number;
  name: string;
  up(db: Database.Database): void;
}
