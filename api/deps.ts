import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';

/** What every route may use: the catalog (read) and Temporal (start, query, signal). Never a disk. */
export interface ApiDeps { pool: Pool; temporal: Client }
