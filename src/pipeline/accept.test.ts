import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WriteBatcher, WriteWork } from '../store/write-batcher.ts';
import { AcceptWriter } from './accept.ts';

test('a group whose transaction failed before it ran (the database away) is closed: later jobs go into a new group and are stored', async () => {
  let down = true;
  let ran = 0;
  // A batcher whose transaction cannot start while `down` (no connection), as on PostgreSQL during an outage.
  const batcher = {
    run<T>(_work: WriteWork<T>): Promise<T> {
      return new Promise<T>((resolve, reject) =>
        setImmediate(() => {
          if (down) return reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
          ran++;
          // Stored: the group reports no failed job (what its work needs of a transaction is not the point here).
          resolve(new Map() as T);
        }),
      );
    },
  } as unknown as WriteBatcher;
  const writer = new AcceptWriter(batcher);
  await assert.rejects(writer.write({ messages: [] }), /ECONNREFUSED/);
  await assert.rejects(writer.write({ messages: [] }), /ECONNREFUSED/);
  down = false;
  await writer.write({ messages: [] });
  assert.equal(ran, 1, 'the job after the outage ran in a transaction of its own');
});
