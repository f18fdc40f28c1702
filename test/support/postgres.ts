// The throwaway PostgreSQL cluster of tests and the bench (bench/postgres-cluster.ts).
export { startPostgres, type PgCluster } from '../../bench/postgres-cluster.js';
