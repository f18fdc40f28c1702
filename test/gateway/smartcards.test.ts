// The smart card routes over real HTTP against a fake core: the seed pages, mixed-case paths,
// case-insensitive query and body names, enum names and numbers, base64 `+`, 201/204, PascalCase.
import t from 'tap';
import { BASE, TOKEN, call, gatewayFor } from './fixtures/gateway.js';
import { ATR, CARD_ID, REQUEST, SMARTCARD } from './fixtures/seed.js';

const REQUEST_2 = 'b105403d-d021-41ea-9f11-be3d677d229e';
const UNSET = '00000000-0000-0000-0000-000000000000';

/** The seed page 002's card, as the core answers it (proto camelCase). */
const seedCard = {
  uuid: SMARTCARD,
  status: 6,
  flags: 1,
  parentSmartcardUuid: UNSET,
  primarySmartcardUuid: UNSET,
  permanentSmartcardUuid: UNSET,
  assignedUserUuid: '8f1590dc-d932-4b66-8e68-2e91c5880780',
  profileTemplateUuid: 'a039b4d0-5ce8-4eff-8651-181c6576fda3',
  profileTemplateVersion: 46,
  comment: '',
  serialNumber: `{${CARD_ID}}`,
  middleware: 'MSBaseCSP',
  atr: ATR,
};

/** The seed page 002's response body, byte for byte. */
const seedCardJson =
  '{"Uuid":"17cf063d-e337-4aa9-a822-346554ddd3c9","Status":6,"Flags":1,' +
  '"ParentSmartcardUuid":"00000000-0000-0000-0000-000000000000",' +
  '"PrimarySmartcardUuid":"00000000-0000-0000-0000-000000000000",' +
  '"PermanentSmartcardUuid":"00000000-0000-0000-0000-000000000000",' +
  '"AssignedUserUuid":"8f1590dc-d932-4b66-8e68-2e91c5880780",' +
  '"ProfileTemplateUuid":"a039b4d0-5ce8-4eff-8651-181c6576fda3","ProfileTemplateVersion":46,' +
  '"Comment":"","SerialNumber":"{bc88f13f-83ba-4037-8262-46eba1291c6e}","Middleware":"MSBaseCSP",' +
  '"Atr":"3b8d0180fba000000397425446590301c8"}';

t.test('smart card routes', async (t) => {
  const gateway = await gatewayFor(t);
  const { core } = gateway;

  t.test('seed 001: POST /smartcards binds, 201 with the bare URI and Location', async (t) => {
    core.answer('AssignSmartcard', { reply: { uuid: SMARTCARD, uri: `api/v1.0/smartcards/${SMARTCARD}`, created: true } });
    const response = await call(gateway, `${BASE}/smartcards`, {
      method: 'POST',
      body: { requestid: REQUEST, cardid: CARD_ID, atr: ATR },
      headers: { 'x-correlation-id': 'seed-001' },
    });
    t.equal(response.status, 201);
    t.equal(response.text, `"api/v1.0/smartcards/${SMARTCARD}"`);
    t.equal(response.headers.get('location'), `/CertificateManagement/api/v1.0/smartcards/${SMARTCARD}`);
    t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    t.equal(response.headers.get('x-correlation-id'), 'seed-001');
    const received = core.lastCall('AssignSmartcard');
    t.equal(received.service, 'SmartcardService');
    t.same(received.request, { requestId: REQUEST, cardId: CARD_ID, atr: ATR });
    t.equal(received.metadata.authorization, TOKEN);
    t.equal(received.metadata['x-correlation-id'], 'seed-001');
  });

  t.test('seed 000: mixed-case path and body names, GUIDs in braces and upper case; 204 on a retry', async (t) => {
    core.answer('AssignSmartcard', { reply: { uuid: SMARTCARD, uri: `api/v1.0/smartcards/${SMARTCARD}`, created: false } });
    const response = await call(gateway, '/CertificateManagement/API/v1.0/SmartCards', {
      method: 'POST',
      body: { RequestId: `{${REQUEST.toUpperCase()}}`, CARDID: CARD_ID.toUpperCase(), Atr: ATR.toUpperCase(), Unknown: 1 },
    });
    t.equal(response.status, 204);
    t.equal(response.text, '');
    t.equal(response.headers.get('location'), null);
    t.same(core.lastCall('AssignSmartcard').request, { requestId: REQUEST, cardId: CARD_ID, atr: ATR });
  });

  t.test('a card id may be given as its 32 hex digits; atr is optional', async (t) => {
    core.answer('AssignSmartcard', { reply: { uuid: SMARTCARD, uri: '', created: true } });
    const response = await call(gateway, `${BASE}/smartcards`, {
      method: 'POST',
      body: { requestid: REQUEST, cardid: CARD_ID.replace(/-/g, '').toUpperCase() },
    });
    t.equal(response.status, 201);
    t.equal(response.json, `api/v1.0/smartcards/${SMARTCARD}`, 'the URI is built from the uuid when the core sent none');
    t.same(core.lastCall('AssignSmartcard').request, { requestId: REQUEST, cardId: CARD_ID, atr: '' });
  });

  t.test('seed 002: PUT a request\'s card status, answered with the seed body byte for byte', async (t) => {
    core.answer('UpdateSmartcardStatus', { reply: seedCard });
    for (const status of ['Retired', 'retired', 'RETIRED', 6, '6']) {
      const response = await call(
        gateway,
        `/certificatemanagement/api/v1.0/requests/${REQUEST_2}/smartcards/${SMARTCARD.toUpperCase()}`,
        { method: 'PUT', body: { Status: status } },
      );
      t.equal(response.status, 200, `status ${JSON.stringify(status)}`);
      t.equal(response.text, seedCardJson);
      t.same(core.lastCall('UpdateSmartcardStatus').request, {
        requestUuid: REQUEST_2,
        smartcardUuid: SMARTCARD,
        status: 6,
      });
    }
  });

  t.test('an unknown status name or number is a 400 before any call', async (t) => {
    for (const status of ['Lost', 7, '', null]) {
      const response = await call(gateway, `${BASE}/requests/${REQUEST_2}/smartcards/${SMARTCARD}`, {
        method: 'PUT',
        body: { status },
      });
      t.equal(response.status, 400, `status ${JSON.stringify(status)}`);
      t.match(response.json, { Code: 'INVALID_ARGUMENT', Message: /status/ });
    }
    t.equal(core.calls.length, 0);
  });

  t.test('seed 003/004: GET serverproposedpin on the card alone', async (t) => {
    core.answer('GetServerProposedPin', { reply: { value: '83920174', present: true } });
    const response = await call(
      gateway,
      `/CertificateManagement/API/v1.0/SmartCards/C6BAD97C-F97F-4920-8947-BE980C98C6B5/serverproposedpin` +
        `?ATR=${ATR}&CardId=${CARD_ID}&challenge=1hFD+cz/0so=`,
    );
    t.equal(response.status, 200);
    t.equal(response.text, '"83920174"');
    t.equal(response.headers.get('cache-control'), 'no-store');
    t.same(core.lastCall('GetServerProposedPin').request, {
      requestUuid: '',
      smartcardUuid: 'c6bad97c-f97f-4920-8947-be980c98c6b5',
      cardId: CARD_ID,
      atr: ATR,
      challenge: '1hFD+cz/0so=',
    });
  });

  t.test('serverproposedpin of a request\'s card; 204 when there is no server PIN', async (t) => {
    core.answer('GetServerProposedPin', { reply: { value: '', present: false } });
    const response = await call(
      gateway,
      `${BASE}/requests/${REQUEST}/smartcards/${SMARTCARD}/serverproposedpin?cardid=${CARD_ID}&challenge=1hFD%2Bcz%2F0so%3D`,
    );
    t.equal(response.status, 204);
    t.equal(response.text, '');
    t.match(core.lastCall('GetServerProposedPin').request, {
      requestUuid: REQUEST,
      smartcardUuid: SMARTCARD,
      challenge: '1hFD+cz/0so=',
      atr: '',
    });
  });

  t.test('a challenge: URL-encoded, raw +, and + that arrived as a space all read the same', async (t) => {
    core.answer('GetAuthenticationResponse', { reply: { value: 'F0Zudm4wPLY=', present: true } });
    const path = `${BASE}/requests/${REQUEST}/smartcards/${SMARTCARD}/authenticationresponse?cardid=${CARD_ID}&diversified=false&challenge=`;
    for (const challenge of ['1hFD%2Bcz%2F0so%3D', '1hFD+cz/0so=', '1hFD%20cz/0so=', '1hFD+cz/0so']) {
      const response = await call(gateway, path + challenge);
      t.equal(response.status, 200, challenge);
      t.equal(response.text, '"F0Zudm4wPLY="');
      t.equal(core.lastCall('GetAuthenticationResponse').request.challenge, challenge === '1hFD+cz/0so' ? challenge : '1hFD+cz/0so=');
    }
  });

  t.test('authenticationresponse: case-insensitive names, booleans and hex', async (t) => {
    core.answer('GetAuthenticationResponse', { reply: { value: 'F0Zudm4wPLY=', present: true } });
    const response = await call(
      gateway,
      `${BASE}/Requests/${REQUEST}/SmartCards/${SMARTCARD}/AuthenticationResponse` +
        `?CARDID={${CARD_ID.toUpperCase()}}&Challenge=1hFD%2Bcz%2F0so%3D&Diversified=True&ATR=${ATR.toUpperCase()}`,
    );
    t.equal(response.status, 200);
    t.equal(response.headers.get('cache-control'), 'no-store');
    t.same(core.lastCall('GetAuthenticationResponse').request, {
      requestUuid: REQUEST,
      smartcardUuid: SMARTCARD,
      cardId: CARD_ID,
      challenge: '1hFD+cz/0so=',
      diversified: true,
      atr: ATR,
    });
    await call(gateway, `${BASE}/requests/${REQUEST}/smartcards/${SMARTCARD}/authenticationresponse?cardid=${CARD_ID}&challenge=AAAAAAAAAAA=&diversified=FALSE`);
    t.equal(core.lastCall('GetAuthenticationResponse').request.diversified, false);
  });

  t.test('authenticationresponse refuses malformed input with 400 before any call', async (t) => {
    const path = `${BASE}/requests/${REQUEST}/smartcards/${SMARTCARD}/authenticationresponse`;
    const cases: [string, RegExp][] = [
      [`?cardid=${CARD_ID}&challenge=1hFD%2Bcz%2F0so%3D`, /diversified is required/],
      [`?cardid=${CARD_ID}&challenge=1hFD%2Bcz%2F0so%3D&diversified=yes`, /diversified must be true or false/],
      [`?cardid=${CARD_ID}&challenge=not*base64&diversified=true`, /challenge must be standard base64/],
      [`?cardid=${CARD_ID}&diversified=true`, /challenge is required/],
      [`?cardid=not-a-guid&challenge=AAAAAAAAAAA=&diversified=true`, /cardid must be a card id/],
      [`?cardid=${CARD_ID}&challenge=AAAAAAAAAAA=&diversified=true&atr=3b8`, /atr must be an ATR/],
      [`?cardid=${CARD_ID}&challenge=AAAAAAAAAAA=&diversified=true&atr=zz`, /atr must be an ATR/],
    ];
    for (const [query, message] of cases) {
      const response = await call(gateway, path + query);
      t.equal(response.status, 400, query);
      t.match(response.json, { Code: 'INVALID_ARGUMENT', Message: message });
    }
    const badPath = await call(gateway, `${BASE}/requests/not-a-guid/smartcards/${SMARTCARD}/authenticationresponse?cardid=${CARD_ID}&challenge=AAAAAAAAAAA=&diversified=true`);
    t.equal(badPath.status, 400);
    t.match(badPath.json, { Message: /reqid must be a GUID/ });
    t.equal(core.calls.length, 0, 'the core never saw them');
  });

  t.test('diversifiedkey', async (t) => {
    core.answer('GetDiversifiedKey', { reply: { value: 'q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQ', present: true } });
    const response = await call(gateway, `${BASE}/requests/${REQUEST}/smartcards/${SMARTCARD}/diversifiedkey?CardID=${CARD_ID}`);
    t.equal(response.status, 200);
    t.equal(response.json, 'q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQ');
    t.same(core.lastCall('GetDiversifiedKey').request, { requestUuid: REQUEST, smartcardUuid: SMARTCARD, cardId: CARD_ID, atr: '' });
    const missing = await call(gateway, `${BASE}/requests/${REQUEST}/smartcards/${SMARTCARD}/diversifiedkey`);
    t.equal(missing.status, 400);
    t.equal(core.callsTo('GetDiversifiedKey').length, 1);
  });

  t.test('GET /smartcards/{id} and /smartcards?cardid=', async (t) => {
    core.answer('GetSmartcard', { reply: seedCard }).answer('FindSmartcard', { reply: seedCard });
    const byId = await call(gateway, `${BASE}/smartcards/{${SMARTCARD.toUpperCase()}}`);
    t.equal(byId.status, 200);
    t.equal(byId.text, seedCardJson);
    t.same(core.lastCall('GetSmartcard').request, { uuid: SMARTCARD });
    const byCardId = await call(gateway, `${BASE}/smartcards?CardId=${CARD_ID.toUpperCase()}`);
    t.equal(byCardId.status, 200);
    t.same(core.lastCall('FindSmartcard').request, { cardId: CARD_ID });
    const noCardId = await call(gateway, `${BASE}/smartcards`);
    t.equal(noCardId.status, 400);
    t.match(noCardId.json, { Code: 'INVALID_ARGUMENT', Message: /cardid is required/ });
    t.equal(core.callsTo('FindSmartcard').length, 1);
  });

  t.test('operations are lower-case request type names', async (t) => {
    core.answer('ListSmartcardOperations', { reply: { operations: [5, 6, 10, 9, 8, 11, 12, 7] } });
    const response = await call(gateway, `${BASE}/smartcards/${SMARTCARD}/operations`);
    t.equal(response.status, 200);
    t.same(response.json, [
      'unblock',
      'offlineunblock',
      'reinstate',
      'revoke',
      'retire',
      'recoveronbehalf',
      'temporarycards',
      'onlineupdate',
    ]);
  });

  t.test('certificates on a card: the card view of SPEC 5.7', async (t) => {
    core.answer('ListSmartcardCertificates', {
      reply: {
        certificates: [
          {
            isKeyHistory: false,
            archivedOnCa: false,
            certificateType: 1,
            templateCommonName: 'SmartcardLogon',
            serialNumber: '1a2b',
            thumbprint: 'ab'.repeat(20),
            notBefore: '2026-01-01T00:00:00Z',
            status: 0,
          },
        ],
      },
    });
    const response = await call(gateway, `${BASE}/smartcards/${SMARTCARD}/certificates`);
    t.equal(response.status, 200);
    t.same(response.json, [
      {
        IsKeyHistory: false,
        ArchivedOnCa: false,
        CertificateType: 1,
        TemplateCommonName: 'SmartcardLogon',
        SerialNumber: '1a2b',
        Thumbprint: 'ab'.repeat(20),
      },
    ]);
    t.equal(core.lastCall('ListSmartcardCertificates').service, 'CertificateService');
  });
});
