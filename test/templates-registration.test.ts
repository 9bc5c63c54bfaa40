import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiCaller, dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/**
 * Template registration with operators (S16, S22): the linter per operator,
 * submit and the operator's decision with its history, the suggested rewrite
 * after a rejection, and messages matched against approved templates, priced
 * at the template price and recorded with the template's id.
 */
const MTS = '+79160008001';
const MEGAFON = '+79160008002';
const CODE_TEXT = 'Ваш код подтверждения: {{code}}. Никому его не сообщайте.';

for (const dialect of await dialects()) {
  describe(`template registration, lint and matching on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let other: { accountId: string; apiKey: string };
    let projectId: string;
    let codeTemplate: { id: string };
    let call: ReturnType<typeof apiCaller>;
    const createTemplate = async (name: string, text: string, extra: Record<string, string> = {}) => {
      const res = await call('POST', '/v1/templates', { project_id: projectId, channel: 'sms', name, text, ...extra });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: string };
    };

    before(async () => {
      t = await startTestGateway(dialect.name);
      call = apiCaller(t);
      other = await t.makeAccount('Other');
      assert.equal((await call('PUT', `/v1/ported-numbers/${MTS.slice(1)}`, { operator: 'mts' })).status, 201);
      assert.equal((await call('PUT', `/v1/ported-numbers/${MEGAFON.slice(1)}`, { operator: 'megafon' })).status, 201);
      projectId = (await call('POST', '/v1/projects', { name: 'Shop', code: 'shop' })).body.id;
      codeTemplate = await createTemplate('code', CODE_TEXT);
    });
    after(async () => t?.close());

    test('1. lint: every operator with rules, findings with stable codes; a compliant template passes once the sender is named', async () => {
      const all = await call('GET', `/v1/templates/${codeTemplate.id}/lint`);
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.deepEqual(all.body.results.map((r: { operator: string }) => r.operator).sort(), ['beeline', 'megafon', 'mts', 't2']);
      for (const r of all.body.results) assert.deepEqual(r.findings.map((f: { code: string }) => f.code), ['sender_required']);
      const mts = await call('GET', `/v1/templates/${codeTemplate.id}/lint?operator=mts&sender=Shop`);
      assert.deepEqual(mts.body.results, [{ operator: 'mts', status: null, passed: true, findings: [], suggestion: null }]);
      const inline = await call('POST', '/v1/templates/lint', { text: '{{name}}, ваш код {{code}} для казино', operator: 'beeline', sender: 'Shop' });
      const result = inline.body.results[0];
      assert.deepEqual(result.findings.map((f: { code: string }) => f.code), ['variable_at_start', 'forbidden_word']);
      assert.deepEqual(result.suggestion.changes.map((c: { code: string }) => c.code), ['forbidden_word', 'variable_at_start']);
      assert.deepEqual(result.suggestion.remaining, []);
      assert.equal((await call('GET', `/v1/templates/${codeTemplate.id}/lint`, undefined, other.apiKey)).status, 404, 'another account\'s template');
    });

    test('2. submit: refused with template_lint_failed while it breaks the rules, then submitted with the texts and sender; the decision is recorded with its history', async () => {
      const refused = await call('POST', `/v1/templates/${codeTemplate.id}/registrations/mts/submit`, {});
      assert.equal(refused.status, 422);
      assert.equal(refused.body.error.code, 'template_lint_failed');
      assert.deepEqual(refused.body.error.details, [{ field: 'sender', issue: 'sender_required: МТС registers templates per sender name: give the sender it will be sent from' }]);
      assert.equal((await call('POST', `/v1/templates/${codeTemplate.id}/registrations/mts/decision`, { status: 'approved' })).body.error.code, 'unknown_registration');

      const submitted = await call('POST', `/v1/templates/${codeTemplate.id}/registrations/mts/submit`, { sender: 'Shop' });
      assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
      assert.equal(submitted.body.status, 'submitted');
      assert.deepEqual(submitted.body.submitted, { text: CODE_TEXT, text_male: null, text_female: null });
      assert.equal((await call('POST', `/v1/templates/${codeTemplate.id}/registrations/mts/decision`, { status: 'rejected' })).body.error.code, 'validation_failed', 'a rejection needs a reason');
      assert.equal((await call('POST', `/v1/templates/${codeTemplate.id}/registrations/mts/decision`, { status: 'approved' }, other.apiKey)).status, 404);

      const approved = await call('POST', `/v1/templates/${codeTemplate.id}/registrations/mts/decision`, { status: 'approved' });
      assert.deepEqual([approved.status, approved.body.status, approved.body.sender], [200, 'approved', 'Shop']);
      const again = await call('POST', `/v1/templates/${codeTemplate.id}/registrations/mts/decision`, { status: 'rejected', reason: 'late' });
      assert.deepEqual([again.status, again.body.error.code], [409, 'registration_wrong_status']);
      const history = await call('GET', `/v1/templates/${codeTemplate.id}/registrations/mts/history`);
      assert.deepEqual(history.body.data.map((e: { status: string }) => e.status), ['submitted', 'approved']);
      assert.deepEqual((await call('GET', `/v1/templates/${codeTemplate.id}/registrations`)).body.data.map((r: { operator: string; status: string }) => [r.operator, r.status]), [['mts', 'approved']]);
    });

    test('3. matching: a message that fits an approved template (operator and sender) records it and is priced as template traffic', async () => {
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: t.accountId, kind: 'top_up', amount: '100.00' })).status, 201);
      assert.equal((await call('PUT', '/v1/prices', { account_id: t.accountId, channel: 'sms', price: '3.00' })).status, 200);
      assert.equal((await call('PUT', '/v1/prices', { account_id: t.accountId, channel: 'sms', operator: 'mts', traffic_type: 'template', price: '0.50' })).status, 200);
      const send = async (to: string, text: string, extra: Record<string, string> = {}) => {
        const res = await call('POST', '/v1/messages', { to, from: 'Shop', text, ...extra });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        return res.body as { id: string; template_id?: string; price?: string; operator: string | null };
      };
      const matched = await send(MTS, 'Ваш код подтверждения:   4821. Никому его не сообщайте.');
      assert.deepEqual([matched.operator, matched.template_id, matched.price], ['mts', codeTemplate.id, '0.50']);
      assert.equal((await call('GET', `/v1/messages/${matched.id}`)).body.template_id, codeTemplate.id, 'recorded on the message');
      assert.equal(await waitForStatus(t.gateway, matched.id, ['delivered']), 'delivered');

      const free = await send(MTS, 'Ваш код подтверждения: 4821. Никому его не сообщайте. Акция!');
      assert.deepEqual([free.template_id, free.price], [undefined, '3.00'], 'text beyond the template is free text');
      assert.equal((await send(MEGAFON, 'Ваш код подтверждения: 4821. Никому его не сообщайте.')).template_id, undefined, 'not approved by MegaFon');
      assert.equal((await send(MTS, 'Ваш код подтверждения: 4821. Никому его не сообщайте.', { from: 'Other' })).template_id, undefined, 'registered for another sender');
      assert.equal((await send(MTS, 'Ваш код подтверждения: 4821. Никому его не сообщайте.', { traffic_type: 'advertising' })).template_id, undefined, 'advertising is not template traffic');
      const otherSent = await call('POST', '/v1/messages', { to: MTS, from: 'Shop', text: 'Ваш код подтверждения: 1. Никому его не сообщайте.' }, other.apiKey);
      assert.equal(otherSent.body.template_id, undefined, 'another account\'s approvals are not this one\'s');
    });

    test('3b. unmatched_templates: a service text that matches no approved template goes as advertising, or is refused; a matching one is untouched', async () => {
      const text = 'Ваш код подтверждения: 4821. Никому его не сообщайте.';
      try {
        assert.equal((await call('PATCH', '/v1/account', { unmatched_templates: 'advertising' })).body.unmatched_templates, 'advertising');
        const moved = await call('POST', '/v1/messages', { to: MTS, from: 'Shop', text: `${text} Акция!` });
        assert.equal(moved.status, 202, JSON.stringify(moved.body));
        assert.deepEqual([moved.body.traffic_type, moved.body.template_id, moved.body.price], ['advertising', undefined, '3.00']);
        assert.equal((await call('PATCH', '/v1/account', { unmatched_templates: 'reject' })).status, 200);
        const refused = await call('POST', '/v1/messages', { to: MTS, from: 'Shop', text: `${text} Акция!` });
        assert.equal(refused.status, 422);
        assert.equal(refused.body.error.code, 'template_not_matched');
        assert.equal(refused.body.error.details[0].field, 'text');
        assert.match(refused.body.error.message, /operator mts and sender Shop/);
        const matched = await call('POST', '/v1/messages', { to: MTS, from: 'Shop', text });
        assert.deepEqual([matched.status, matched.body.traffic_type, matched.body.template_id], [202, 'service', codeTemplate.id]);
        const ads = await call('POST', '/v1/messages', { to: MTS, from: 'Shop', text: `${text} Акция!`, traffic_type: 'advertising' });
        assert.equal(ads.status, 202, 'advertising is never matched, so never refused for it');
        assert.equal((await call('PATCH', '/v1/account', { unmatched_templates: 'sometimes' })).status, 400);
      } finally {
        assert.equal((await call('PATCH', '/v1/account', { unmatched_templates: 'keep' })).body.unmatched_templates, 'keep');
      }
    });

    test('4. an edit does not change what was approved; withdrawing to draft stops matching at once', async () => {
      const edited = await call('PATCH', `/v1/templates/${codeTemplate.id}`, { text: 'Код: {{code}}' });
      assert.equal(edited.status, 200);
      const reg = (await call('GET', `/v1/templates/${codeTemplate.id}/registrations`)).body.data[0];
      assert.deepEqual([reg.status, reg.text_changed], ['approved', true]);
      const still = await call('POST', '/v1/messages', { to: MTS, from: 'Shop', text: 'Ваш код подтверждения: 77. Никому его не сообщайте.' });
      assert.equal(still.body.template_id, codeTemplate.id, 'the approved text still matches');
      const draft = await call('POST', `/v1/templates/${codeTemplate.id}/registrations/mts/draft`);
      assert.equal(draft.body.status, 'draft');
      const after = await call('POST', '/v1/messages', { to: MTS, from: 'Shop', text: 'Ваш код подтверждения: 78. Никому его не сообщайте.' });
      assert.equal(after.body.template_id, undefined);
      assert.deepEqual((await call('GET', `/v1/templates/${codeTemplate.id}/registrations/mts/history`)).body.data.map((e: { status: string }) => e.status), ['submitted', 'approved', 'draft']);
    });

    test('5. a rejection with the operator\'s reason answers with a rewrite; lint shows the status and the suggestion', async () => {
      const promo = await createTemplate('promo', 'Заказ {{n}} готов. Выгодные предложения каждый день', { text_male: '{{name}}, ваш заказ {{n}} готов' });
      const forced = await call('POST', `/v1/templates/${promo.id}/registrations/megafon/submit`, { sender: 'Shop', force: true });
      assert.equal(forced.body.status, 'submitted', 'force submits despite findings');
      const rejected = await call('POST', `/v1/templates/${promo.id}/registrations/megafon/decision`, { status: 'rejected', reason: 'Слово «выгодные» запрещено' });
      assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
      assert.deepEqual([rejected.body.status, rejected.body.reason], ['rejected', 'Слово «выгодные» запрещено']);
      assert.deepEqual(rejected.body.suggestion.texts, { text: 'Заказ {{n}} готов. предложения каждый день', text_male: 'Ваш заказ {{n}} готов, {{name}}', text_female: null });
      assert.deepEqual(rejected.body.suggestion.changes.map((c: { code: string; field: string }) => [c.code, c.field]), [['forbidden_word', 'text'], ['variable_at_start', 'text_male']]);
      const lint = await call('GET', `/v1/templates/${promo.id}/lint?operator=megafon`);
      assert.deepEqual([lint.body.results[0].status, lint.body.results[0].passed], ['rejected', false]);
      assert.ok(lint.body.results[0].suggestion, 'a suggestion while rejected');
      const resubmitted = await call('POST', `/v1/templates/${promo.id}/registrations/megafon/submit`, { sender: 'Shop', force: true });
      assert.deepEqual([resubmitted.body.status, resubmitted.body.reason], ['submitted', null]);
    });

    test('6. routed as templated: a route with templated: true takes the texts that match an approved template, another route the rest; by /v1/messages and by /api/v1 naming a connector of the templated route', async () => {
      // Approved for MTS without a sender (forced past the linter), so a send without `from` (the seed-001 API has none) matches too.
      const ready = await createTemplate('ready', 'Заказ {{n}} готов к выдаче.');
      assert.equal((await call('POST', `/v1/templates/${ready.id}/registrations/mts/submit`, { force: true })).body.status, 'submitted');
      assert.equal((await call('POST', `/v1/templates/${ready.id}/registrations/mts/decision`, { status: 'approved' })).body.status, 'approved');
      for (const id of ['tpl1', 'tpl2', 'free']) assert.equal((await call('POST', '/v1/connectors', { id, type: 'sandbox', receipt_delay_ms: 10 })).status, 201);
      const templated = await call('POST', '/v1/routes', { failover: ['tpl1', 'tpl2'], templated: true });
      assert.equal(templated.status, 201, JSON.stringify(templated.body));
      const rest = await call('POST', '/v1/routes', { connector: 'free' });
      assert.equal(rest.status, 201, JSON.stringify(rest.body));
      const connectorOf = async (id: string) => {
        assert.equal(await waitForStatus(t.gateway, id, ['delivered', 'failed', 'rejected', 'undelivered']), 'delivered');
        const m = (await call('GET', `/v1/messages/${id}`)).body;
        return [m.template_id ?? null, m.connector];
      };
      try {
        const send = async (text: string) => {
          const res = await call('POST', '/v1/messages', { to: MTS, from: 'Shop', text });
          assert.equal(res.status, 202, JSON.stringify(res.body));
          return connectorOf(res.body.id);
        };
        assert.deepEqual(await send('Заказ 15 готов к выдаче.'), [ready.id, 'tpl1'], 'matched: the templated route');
        assert.deepEqual(await send('Заказ 15 готов к выдаче. Скидки!'), [null, 'free'], 'not matched: the other route');

        const compat = async (text: string) => {
          const res = await t.gateway.app.inject({ method: 'POST', url: '/api/v1', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' }, payload: JSON.stringify({ send: { text_male: text, users: [{ phone: MTS }] }, route: 'tpl2' }) });
          assert.equal(res.statusCode, 200, res.body);
          const key = res.json()[0].send.key;
          const status = await t.gateway.app.inject({ method: 'POST', url: '/api/v1', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' }, payload: JSON.stringify({ status: { key } }) });
          return connectorOf(status.json().message[0].send.status[0].id);
        };
        assert.deepEqual(await compat('Заказ 16 готов к выдаче.'), [ready.id, 'tpl2'], 'route names a connector of the templated route this text takes: that one');
        assert.deepEqual(await compat('Заказ 16 готов. Скидки!'), [null, 'free'], 'tpl2 is not in the route an unmatched text takes: routing chooses');
      } finally {
        for (const r of [templated.body.id, rest.body.id]) assert.equal((await call('DELETE', `/v1/routes/${r}`)).status, 204);
      }
    });
  });
}
