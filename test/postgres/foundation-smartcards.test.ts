// test/e2e/foundation-smartcards.test.ts again, its cores on PostgreSQL (a throwaway cluster for this file, a fresh
// database per core): the store is chosen by CM_TEST_STORE before the suite is loaded.
process.env.CM_TEST_STORE = 'postgres';
await import('../e2e/foundation-smartcards.test.js');
