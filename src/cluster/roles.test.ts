import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../config.ts';
import { ROLES } from './roles.ts';

const CLUSTER = { DATABASE_URL: 'postgres://db/depesha', REDIS_URL: 'redis://127.0.0.1:6379' };

test('a node runs every role by default, embedded or in a cluster', () => {
  assert.deepEqual(loadConfig({}).roles, [...ROLES]);
  assert.equal(loadConfig({}).redisUrl, undefined);
  assert.deepEqual(loadConfig(CLUSTER).roles, [...ROLES]);
});

test('DEPESHA_ROLES picks some roles, in a cluster only', () => {
  assert.deepEqual(loadConfig({ ...CLUSTER, DEPESHA_ROLES: 'worker, scheduler' }).roles, ['worker', 'scheduler']);
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return '';
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.join('\n');
    }
  };
  assert.match(problems({ DEPESHA_ROLES: 'api' }), /needs DATABASE_URL and REDIS_URL/);
  assert.match(problems({ ...CLUSTER, DEPESHA_ROLES: 'api,sender,api' }), /"sender" is not one of api, smpp, worker, scheduler[\s\S]*"api" is given twice/);
  assert.match(problems({ REDIS_URL: 'redis://x' }), /REDIS_URL needs DATABASE_URL/);
  assert.match(problems({ ...CLUSTER, REDIS_URL: 'http://x' }), /REDIS_URL must be/);
  assert.match(problems({ ...CLUSTER, DEPESHA_REDIS_PREFIX: 'a b' }), /DEPESHA_REDIS_PREFIX/);
});
