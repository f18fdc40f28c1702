// The REST conventions of SPEC 2 as units: enum names, value formats, the query string parser,
// key casing, log redaction.
import t from 'tap';
import { lowerCaseKeys, toPascalCase } from '../../gateway/conventions/casing.js';
import { REQUEST_STATUS, REQUEST_TYPE, SMARTCARD_STATUS, restName } from '../../gateway/conventions/enums.js';
import { parseQueryString } from '../../gateway/conventions/querystring.js';
import { atr, base64, bool, cardId, guid, hex, read, readOptional } from '../../gateway/conventions/values.js';
import { redactUrl } from '../../gateway/logging.js';

t.test('enum names come from the proto enums', async (t) => {
  t.equal(restName(SMARTCARD_STATUS, 3), 'Active');
  t.equal(restName(REQUEST_TYPE, 6), 'OfflineUnblock');
  t.equal(restName(REQUEST_TYPE, 11), 'RecoverOnBehalf');
  t.equal(restName(REQUEST_STATUS, 42), '42', 'an unknown number is written as is');
  for (const text of ['OfflineUnblock', 'offlineunblock', 'OFFLINE_UNBLOCK', 'offline_unblock', 'REQUEST_TYPE_OFFLINE_UNBLOCK', '6', ' 6 ']) {
    t.equal(REQUEST_TYPE.parse(text), 6, text);
  }
  for (const text of ['Offline Unblock', '13', '-1', '', 'x']) t.equal(REQUEST_TYPE.parse(text), undefined, text);
  t.same([...SMARTCARD_STATUS.names.values()], ['None', 'New', 'Assigned', 'Active', 'Disabled', 'Suspended', 'Retired']);
});

t.test('value formats', async (t) => {
  const id = 'bc88f13f-83ba-4037-8262-46eba1291c6e';
  t.equal(guid.parse(id.toUpperCase()), id);
  t.equal(guid.parse(`{${id}}`), id);
  t.equal(guid.parse(`{${id}`), undefined, 'unbalanced braces');
  t.equal(guid.parse(id.replace(/-/g, '')), undefined, 'an id must be 8-4-4-4-12');
  t.equal(cardId.parse(id.replace(/-/g, '').toUpperCase()), id, 'a card id may be its 32 hex digits');
  t.equal(hex.parse('0A0b'), '0a0b');
  t.equal(hex.parse('0a0'), undefined, 'whole bytes');
  t.equal(atr.parse('3b'), undefined, 'an ATR has 2 to 33 bytes');
  t.equal(atr.parse('3b'.repeat(34)), undefined);
  t.equal(atr.parse('3B8D'), '3b8d');
  t.equal(base64.parse('1hFD cz/0so='), '1hFD+cz/0so=');
  t.equal(base64.parse('1hFD+cz/0so'), '1hFD+cz/0so', 'padding optional');
  t.equal(base64.parse('1hFD+cz/0so=='), undefined);
  t.equal(base64.parse('AAAA-_=='), undefined, 'not base64url');
  t.equal(base64.parse(''), undefined);
  t.equal(bool.parse('True'), true);
  t.equal(bool.parse('FALSE'), false);
  t.equal(bool.parse('1'), undefined);
  t.throws(() => read(guid, 'x', 'id'), { code: 'INVALID_ARGUMENT', statusCode: 400, message: /id must be a GUID/ });
  t.throws(() => read(guid, { id }, 'id'), { code: 'INVALID_ARGUMENT' });
  t.equal(readOptional(guid, undefined, 'id', ''), '');
  t.equal(readOptional(guid, '', 'id', ''), '');
});

t.test('query strings: names lower-cased, values decoded once, + kept', async (t) => {
  t.same(parseQueryString('CardId=ABC&challenge=1hFD+cz/0so=&Diversified=True'), {
    cardid: 'ABC',
    challenge: '1hFD+cz/0so=',
    diversified: 'True',
  });
  t.same(parseQueryString('challenge=1hFD%2Bcz%2F0so%3D'), { challenge: '1hFD+cz/0so=' });
  t.same(parseQueryString('a=1&A=2&flag&&=x'), { a: '1', flag: '' }, 'the first of a repeated name wins');
  t.same(parseQueryString('bad=%E0%A4%A'), { bad: '%E0%A4%A' }, 'a malformed escape is kept for the checks to refuse');
  t.same(Object.keys(parseQueryString('__proto__=x&constructor=y')), ['constructor']);
});

t.test('body keys lower-cased at every depth, responses in PascalCase', async (t) => {
  t.same(
    lowerCaseKeys({ RequestId: 'x', SmartcardConfiguration: { UserPinPolicy: { MinLength: 4 } }, List: [{ Name: 'a' }], DataCollection: [{ City: 'Seattle' }] }, new Set(['datacollection'])),
    { requestid: 'x', smartcardconfiguration: { userpinpolicy: { minlength: 4 } }, list: [{ name: 'a' }], datacollection: [{ City: 'Seattle' }] },
  );
  t.same(lowerCaseKeys(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')), { a: 1 });
  t.same(toPascalCase({ uuid: 'x', policies: { Enroll: { selfServiceEnabled: true } }, _defaultAdminKeyHex: 'defaultAdminKeyHex', list: [{ atr: '3b' }] }), {
    Uuid: 'x',
    Policies: { Enroll: { SelfServiceEnabled: true } },
    List: [{ Atr: '3b' }],
  });
});

t.test('secret query values are redacted from logged URLs', async (t) => {
  t.equal(redactUrl('/x?cardid=1&Challenge=abc%2B&atr=3b'), '/x?cardid=1&Challenge=[REDACTED]&atr=3b');
  t.equal(redactUrl('/x?challenge=abc'), '/x?challenge=[REDACTED]');
  t.equal(redactUrl('/x?cardid=1'), '/x?cardid=1');
});

