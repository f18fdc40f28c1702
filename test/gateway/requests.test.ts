// The request, certificate, profile template, audit and CRL routes over real HTTP against a
// fake core: request building (datacollection shapes, enums, priority), answer shaping.
import t from 'tap';
import { BASE, call, gatewayFor } from './fixtures/gateway.js';
import { REQUEST, SMARTCARD, TEMPLATE, USER } from './fixtures/seed.js';

const coreRequest = {
  uuid: REQUEST,
  requestType: 1,
  status: 3,
  flags: 2,
  dataCollection: [{ name: 'City', value: 'Seattle' }],
  originatorUserUuid: USER,
  targetUserUuid: USER,
  submitted: '2026-01-02T03:04:05Z',
  completed: '0001-01-01T00:00:00Z',
  newSmartcardUuid: '00000000-0000-0000-0000-000000000000',
  oldSmartcardUuid: '00000000-0000-0000-0000-000000000000',
  newProfileUuid: TEMPLATE,
  oldProfileUuid: '00000000-0000-0000-0000-000000000000',
  priority: 5,
  comment: '',
  profileTemplateUuid: TEMPLATE,
  isSmartcard: true,
  isEnrollmentAgent: false,
  isDataCollectionComplete: true,
  approvals: [{ approverUuid: USER, approved: true, comment: 'ok', at: '2026-01-02T03:05:00Z' }],
};

const restRequest = {
  Uuid: REQUEST,
  RequestType: 1,
  Status: 3,
  Flags: 2,
  DataCollection: [{ Name: 'City', Value: 'Seattle' }],
  OriginatorUserUuid: USER,
  TargetUserUuid: USER,
  Submitted: '2026-01-02T03:04:05Z',
  Completed: '0001-01-01T00:00:00Z',
  NewSmartcardUuid: '00000000-0000-0000-0000-000000000000',
  OldSmartcardUuid: '00000000-0000-0000-0000-000000000000',
  NewProfileUuid: TEMPLATE,
  OldProfileUuid: '00000000-0000-0000-0000-000000000000',
  Priority: 5,
  Comment: '',
  ProfileTemplateUuid: TEMPLATE,
  IsSmartcard: true,
  IsEnrollmentAgent: false,
  IsDataCollectionComplete: true,
  Approvals: [{ ApproverUuid: USER, Approved: true, Comment: 'ok', At: '2026-01-02T03:05:00Z' }],
};

const corePolicy = {
  enabled: true,
  selfServiceEnabled: true,
  enrollAgentRequired: false,
  approvalsNeeded: 0,
  authorizedInitiators: ['group:helpdesk'],
  authorizedApprovers: [],
  authorizedEnrollmentAgents: ['user:' + USER],
  collectComments: false,
  dataCollection: [{ name: 'City', required: true }],
};

const restPolicy = {
  Enabled: true,
  SelfServiceEnabled: true,
  EnrollAgentRequired: false,
  ApprovalsNeeded: 0,
  AuthorizedInitiators: ['group:helpdesk'],
  AuthorizedApprovers: [],
  AuthorizedEnrollmentAgents: ['user:' + USER],
  CollectComments: false,
  DataCollection: [{ Name: 'City', Required: true }],
};

const coreConfiguration = {
  diversifyAdminKey: true,
  userPinOption: 2,
  userPinPolicy: { minLength: 6, maxLength: 127, characterSet: 0, serverPinLength: 8 },
  allowSmartcardReuse: false,
  maxNumberOfCertificates: 5,
  atrMiddleware: [{ atrPrefixHex: '3b8d', middleware: 'MSBaseCSP' }],
  adminKeyAlgorithm: '3DES',
};

const restConfiguration = {
  DefaultAdminKeyHex: null,
  DiversifyAdminKey: true,
  UserPinOption: 2,
  UserPinPolicy: { MinLength: 6, MaxLength: 127, CharacterSet: 0, ServerPinLength: 8 },
  AllowSmartcardReuse: false,
  MaxNumberOfCertificates: 5,
  AtrMiddleware: [{ AtrPrefixHex: '3b8d', Middleware: 'MSBaseCSP' }],
  AdminKeyAlgorithm: '3DES',
};

const coreTemplate = {
  uuid: TEMPLATE,
  name: 'Smart card logon',
  description: 'Employees',
  version: 3,
  isSmartcardProfileTemplate: true,
  isVirtualSmartcardProfileTemplate: false,
  policies: { Enroll: corePolicy, OfflineUnblock: corePolicy },
  smartcardConfiguration: coreConfiguration,
  certificateTemplates: [
    {
      templateCommonName: 'SmartcardLogon',
      keyAlgorithmName: 'RSA',
      keySize: 2048,
      hashAlgorithmName: 'SHA256',
      keyUsages: 2,
      subjectTemplate: 'CN={name}',
      validityDays: 365,
    },
  ],
};

t.test('request routes', async (t) => {
  const gateway = await gatewayFor(t);
  const { core } = gateway;

  t.test('POST /requests: 201, the bare URI, Location, and the request as the core gets it', async (t) => {
    core.answer('CreateRequest', { reply: { uuid: REQUEST, uri: `api/v1.0/requests/${REQUEST}`, created: true } });
    const response = await call(gateway, '/CERTIFICATEMANAGEMENT/api/V1.0/Requests', {
      method: 'POST',
      body: {
        ProfileTemplateUuid: TEMPLATE.toUpperCase(),
        Type: 'Enroll',
        Target: `{${USER}}`,
        DataCollection: [{ Name: 'City', Value: 'Seattle' }],
        Comment: 'new hire',
        Priority: '7',
      },
    });
    t.equal(response.status, 201);
    t.equal(response.json, `api/v1.0/requests/${REQUEST}`);
    t.equal(response.headers.get('location'), `/CertificateManagement/api/v1.0/requests/${REQUEST}`);
    t.same(core.lastCall('CreateRequest').request, {
      profileTemplateUuid: TEMPLATE,
      type: 1,
      target: USER,
      dataCollection: [{ name: 'City', value: 'Seattle' }],
      comment: 'new hire',
      priority: 7,
      smartcard: '',
    });
  });

  t.test('the three datacollection shapes, request types by name or number', async (t) => {
    core.answer('CreateRequest', { reply: { uuid: REQUEST, uri: `api/v1.0/requests/${REQUEST}`, created: true } });
    const expected = [
      { name: 'City', value: 'seattle' },
      { name: 'Badge', value: '42' },
    ];
    const shapes: [unknown, unknown][] = [
      [[{ name: 'City', VALUE: 'seattle' }, { NAME: 'Badge', value: '42' }], 'offlineunblock'],
      [[{ City: 'seattle' }, { Badge: 42 }], 6],
      [JSON.stringify([{ Name: 'City', Value: 'seattle' }, { Name: 'Badge', Value: '42' }]), 'OFFLINE_UNBLOCK'],
      [JSON.stringify([{ City: 'seattle' }, { Badge: '42' }]), '6'],
    ];
    for (const [datacollection, type] of shapes) {
      const response = await call(gateway, `${BASE}/requests`, {
        method: 'POST',
        body: { type, smartcard: SMARTCARD, datacollection, priority: 3 },
      });
      t.equal(response.status, 201, JSON.stringify(datacollection));
      t.match(core.lastCall('CreateRequest').request, {
        type: 6,
        smartcard: SMARTCARD,
        profileTemplateUuid: '',
        target: '',
        priority: 3,
        dataCollection: expected,
      });
    }
  });

  t.test('malformed request bodies are 400s before any call', async (t) => {
    const bodies: [unknown, RegExp][] = [
      [{ type: 'Adopt' }, /type must be a RequestType name/],
      [{ type: 99 }, /type must be a RequestType name/],
      [{}, /type is required/],
      [{ type: 'Enroll', target: 'me' }, /target must be a GUID/],
      [{ type: 'Enroll', priority: 'high' }, /priority must be a whole number/],
      [{ type: 'Enroll', priority: [3] }, /priority must be of type integer or string/],
      [{ type: 'Enroll', datacollection: { city: 'x' } }, /datacollection must be an array/],
      [{ type: 'Enroll', datacollection: '[{"city": ' }, /not valid JSON/],
      [{ type: 'Enroll', datacollection: [{ a: '1', b: '2' }] }, /datacollection\[0\]/],
      [{ type: 'Enroll', datacollection: [{ city: { nested: true } }] }, /text value/],
      [{ type: 'Enroll', datacollection: ['city'] }, /datacollection\[0\] must be an object/],
    ];
    for (const [body, message] of bodies) {
      const response = await call(gateway, `${BASE}/requests`, { method: 'POST', body });
      t.equal(response.status, 400, JSON.stringify(body));
      t.match(response.json, { Code: 'INVALID_ARGUMENT', Message: message });
    }
    t.equal(core.calls.length, 0);
  });

  t.test('GET /requests/{id}: PascalCase', async (t) => {
    core.answer('GetRequest', { reply: coreRequest });
    const response = await call(gateway, `${BASE}/requests/${REQUEST}`);
    t.equal(response.status, 200);
    t.same(response.json, restRequest);
    t.same(Object.keys(response.json as object), Object.keys(restRequest), 'in the order of SPEC 5.2');
    t.same(core.lastCall('GetRequest').request, { uuid: REQUEST });
  });

  t.test('GET /requests?targetuser=&status=: names of any case', async (t) => {
    core.answer('ListRequests', { reply: { requests: [coreRequest] } });
    const response = await call(gateway, `${BASE}/requests?TargetUser=Current&STATUS=approved`);
    t.equal(response.status, 200);
    t.same(response.json, [restRequest]);
    t.same(core.lastCall('ListRequests').request, { targetUser: 'current', status: 3 });
    await call(gateway, `${BASE}/requests?targetuser=${USER.toUpperCase()}&status=8`);
    t.same(core.lastCall('ListRequests').request, { targetUser: USER, status: 8 });
    await call(gateway, `${BASE}/requests`);
    t.same(core.lastCall('ListRequests').request, { targetUser: '', status: 0 });
    const bad = await call(gateway, `${BASE}/requests?targetuser=someone`);
    t.equal(bad.status, 400);
    t.equal(core.callsTo('ListRequests').length, 3);
  });

  t.test('PUT /requests/{id}', async (t) => {
    core.answer('UpdateRequestStatus', { reply: { ...coreRequest, status: 8 } });
    const response = await call(gateway, `${BASE}/requests/${REQUEST}`, {
      method: 'PUT',
      body: { Status: 'Completed', COMMENT: 'done' },
    });
    t.equal(response.status, 200);
    t.match(response.json, { Uuid: REQUEST, Status: 8 });
    t.same(core.lastCall('UpdateRequestStatus').request, { uuid: REQUEST, status: 8, comment: 'done' });
  });

  t.test('certificate request generation options', async (t) => {
    core.answer('GetCertificateRequestGenerationOptions', {
      reply: {
        options: [
          {
            subject: 'CN=Ada',
            keyAlgorithmName: 'RSA',
            keySize: 2048,
            friendlyName: 'SmartcardLogon',
            hashAlgorithmName: 'SHA256',
            keyStorageProviderNames: ['Microsoft Smart Card Key Storage Provider'],
            exportable: 0,
            keyProtectionLevel: 0,
            keyUsages: 2,
          },
        ],
      },
    });
    const response = await call(gateway, `${BASE}/requests/${REQUEST}/CertificateRequestGenerationOptions`);
    t.equal(response.status, 200);
    t.same(response.json, [
      {
        Subject: 'CN=Ada',
        KeyAlgorithmName: 'RSA',
        KeySize: 2048,
        FriendlyName: 'SmartcardLogon',
        HashAlgorithmName: 'SHA256',
        KeyStorageProviderNames: ['Microsoft Smart Card Key Storage Provider'],
        Exportable: 0,
        KeyProtectionLevel: 0,
        KeyUsages: 2,
      },
    ]);
  });

  t.test('certificatedata: the issued certificates in the MIM casing', async (t) => {
    core.answer('SubmitCertificateRequests', {
      reply: { certificates: [{ templateCommonName: 'SmartcardLogon', certificateId: '1a2b', flags: 0, pkcs7: 'MIIB' }] },
    });
    const response = await call(gateway, `${BASE}/requests/${REQUEST}/certificatedata`, {
      method: 'POST',
      body: { CertificateRequests: ['MIIC'], PfxPassword: 'secret', Comments: 'x' },
    });
    t.equal(response.status, 200);
    t.equal(
      response.text,
      '[{"TemplateCommonName":"SmartcardLogon","CertificateId":"1a2b","Flags":0,"UseLocalMachineStore":false,' +
        '"Error":null,"Pkcs7":"MIIB","Pfx":null,"IsExternal":false,"isServerGenerated":false,"isPfx":false,' +
        '"isPkcs7":true,"isKeyHistory":false}]',
    );
    t.same(core.lastCall('SubmitCertificateRequests').request, {
      requestUuid: REQUEST,
      certificateRequests: ['MIIC'],
      pfxPassword: 'secret',
      comments: 'x',
    });
    const missing = await call(gateway, `${BASE}/requests/${REQUEST}/certificatedata`, { method: 'POST', body: {} });
    t.equal(missing.status, 400);
    t.match(missing.json, { Message: /certificaterequests is required/ });
  });

  t.test('GET /certificates: the caller\'s certificates', async (t) => {
    const certificate = {
      isKeyHistory: false,
      archivedOnCa: false,
      certificateType: 1,
      templateCommonName: 'SmartcardLogon',
      serialNumber: '1a2b',
      thumbprint: 'cd'.repeat(20),
      notBefore: '2026-01-01T00:00:00Z',
      notAfter: '2027-01-01T00:00:00Z',
      issuer: 'CN=CM CA',
      requesterName: 'Ada',
      status: 2,
    };
    core.answer('ListMyCertificates', { reply: { certificates: [certificate] } });
    const response = await call(gateway, `${BASE}/certificates`);
    t.equal(response.status, 200);
    t.same(response.json, [
      {
        IsKeyHistory: false,
        ArchivedOnCa: false,
        CertificateType: 1,
        TemplateCommonName: 'SmartcardLogon',
        SerialNumber: '1a2b',
        Thumbprint: 'cd'.repeat(20),
        NotBefore: '2026-01-01T00:00:00Z',
        NotAfter: '2027-01-01T00:00:00Z',
        Issuer: 'CN=CM CA',
        RequesterName: 'Ada',
        Status: 2,
      },
    ]);
  });

  t.test('GET /audit', async (t) => {
    core.answer('ListAuditRecords', {
      reply: {
        records: [
          {
            id: 7,
            at: '2026-01-02T03:04:05Z',
            correlationId: 'abc',
            callerUuid: USER,
            action: 'GetDiversifiedKey',
            requestUuid: REQUEST,
            smartcardUuid: SMARTCARD,
            outcome: 'Refused',
            detail: 'CARD_MISMATCH',
          },
        ],
      },
    });
    const response = await call(gateway, `${BASE}/Audit?RequestId=${REQUEST.toUpperCase()}&LIMIT=5`);
    t.equal(response.status, 200);
    t.same(response.json, [
      {
        Id: 7,
        At: '2026-01-02T03:04:05Z',
        CorrelationId: 'abc',
        CallerUuid: USER,
        Action: 'GetDiversifiedKey',
        RequestUuid: REQUEST,
        SmartcardUuid: SMARTCARD,
        Outcome: 'Refused',
        Detail: 'CARD_MISMATCH',
      },
    ]);
    t.same(core.lastCall('ListAuditRecords').request, { requestUuid: REQUEST, smartcardUuid: '', limit: 5 });
    const bad = await call(gateway, `${BASE}/audit?limit=many`);
    t.equal(bad.status, 400);
  });

  t.test('GET /crl at the server root, without a token: DER as application/pkix-crl', async (t) => {
    const der = Buffer.from([0x30, 0x82, 0x01, 0x00, 0xff, 0x00]);
    core.answer('GetCrl', { reply: { der } });
    for (const path of ['/crl', '/CRL']) {
      const response = await fetch(gateway.url + path);
      t.equal(response.status, 200);
      t.equal(response.headers.get('content-type'), 'application/pkix-crl');
      t.ok(response.headers.get('x-correlation-id'));
      t.same(Buffer.from(await response.arrayBuffer()), der);
      t.equal(core.lastCall('GetCrl').metadata.authorization, undefined, 'no token forwarded');
    }
    const underBase = await call(gateway, `${BASE}/crl`);
    t.equal(underBase.status, 404, 'not under the base path');
  });
});

t.test('profile template routes', async (t) => {
  const gateway = await gatewayFor(t);
  const { core } = gateway;

  t.test('GET /profiletemplates: the limited views', async (t) => {
    core.answer('ListProfileTemplates', {
      reply: {
        profileTemplates: [
          { name: 'Logon', description: 'd', uuid: TEMPLATE, isSmartcardProfileTemplate: true, isVirtualSmartcardProfileTemplate: false },
        ],
      },
    });
    const response = await call(gateway, `${BASE}/ProfileTemplates`);
    t.equal(response.status, 200);
    t.same(response.json, [
      { Name: 'Logon', Description: 'd', Uuid: TEMPLATE, IsSmartcardProfileTemplate: true, IsVirtualSmartcardProfileTemplate: false },
    ]);
  });

  t.test('GET /profiletemplates/{id}: PascalCase, policy names kept, DefaultAdminKeyHex null when unset', async (t) => {
    core.answer('GetProfileTemplate', { reply: coreTemplate });
    const response = await call(gateway, `${BASE}/profiletemplates/${TEMPLATE}`);
    t.equal(response.status, 200);
    t.same(response.json, {
      Uuid: TEMPLATE,
      Name: 'Smart card logon',
      Description: 'Employees',
      Version: 3,
      IsSmartcardProfileTemplate: true,
      IsVirtualSmartcardProfileTemplate: false,
      Policies: { Enroll: restPolicy, OfflineUnblock: restPolicy },
      SmartcardConfiguration: restConfiguration,
      CertificateTemplates: [
        {
          TemplateCommonName: 'SmartcardLogon',
          KeyAlgorithmName: 'RSA',
          KeySize: 2048,
          HashAlgorithmName: 'SHA256',
          KeyUsages: 2,
          SubjectTemplate: 'CN={name}',
          ValidityDays: 365,
        },
      ],
    });
  });

  t.test('GET configuration/smartcards: the key when the core shows it, else null', async (t) => {
    core.answer('GetSmartcardConfiguration', { reply: { ...coreConfiguration, defaultAdminKeyHex: '00'.repeat(24) } });
    const shown = await call(gateway, `${BASE}/profiletemplates/${TEMPLATE}/Configuration/SmartCards`);
    t.equal(shown.status, 200);
    t.same(shown.json, { ...restConfiguration, DefaultAdminKeyHex: '00'.repeat(24) });
    core.answer('GetSmartcardConfiguration', { reply: coreConfiguration });
    const hidden = await call(gateway, `${BASE}/profiletemplates/${TEMPLATE}/configuration/smartcards`);
    t.same(hidden.json, restConfiguration);
  });

  t.test('GET a workflow policy, on both paths, by type name or number', async (t) => {
    core.answer('GetWorkflowPolicy', { reply: corePolicy });
    for (const [path, type] of [
      [`policies/Enroll`, 1],
      [`policies/offlineunblock`, 6],
      [`Policy/Workflow/unblock`, 5],
      [`policy/workflow/9`, 9],
    ] as const) {
      const response = await call(gateway, `${BASE}/profiletemplates/${TEMPLATE}/${path}`);
      t.equal(response.status, 200, path);
      t.same(response.json, restPolicy);
      t.same(core.lastCall('GetWorkflowPolicy').request, { uuid: TEMPLATE, type });
    }
    const bad = await call(gateway, `${BASE}/profiletemplates/${TEMPLATE}/policies/Adopt`);
    t.equal(bad.status, 400);
    t.match(bad.json, { Message: /type must be a RequestType name/ });
  });

  t.test('POST /profiletemplates: a mixed-case body becomes the proto template', async (t) => {
    core.answer('CreateProfileTemplate', { reply: { uuid: TEMPLATE, uri: `api/v1.0/profiletemplates/${TEMPLATE}`, created: true } });
    const response = await call(gateway, `${BASE}/profiletemplates`, {
      method: 'POST',
      body: {
        Name: 'Logon',
        Uuid: 'ignored',
        Version: 9,
        IsSmartcardProfileTemplate: true,
        Policies: {
          enroll: {
            Enabled: true,
            SelfServiceEnabled: true,
            ApprovalsNeeded: 1,
            AuthorizedApprovers: ['group:managers'],
            DataCollection: [{ NAME: 'City', Required: true }],
          },
          OFFLINE_UNBLOCK: { enabled: true },
        },
        SmartcardConfiguration: {
          DefaultAdminKeyHex: '0102030405060708'.repeat(3).toUpperCase(),
          DiversifyAdminKey: true,
          UserPinOption: 'ServerDistributed',
          UserPinPolicy: { MinLength: 6, CharacterSet: 'alphanumeric' },
          AtrMiddleware: [{ AtrPrefixHex: '3B8D', Middleware: 'MSBaseCSP' }],
          AdminKeyAlgorithm: 'aes128',
        },
        CertificateTemplates: [{ TemplateCommonName: 'SmartcardLogon', KeySize: 2048 }],
      },
    });
    t.equal(response.status, 201);
    t.equal(response.json, `api/v1.0/profiletemplates/${TEMPLATE}`);
    t.equal(response.headers.get('location'), `/CertificateManagement/api/v1.0/profiletemplates/${TEMPLATE}`);
    const { template } = core.lastCall('CreateProfileTemplate').request as { template: Record<string, unknown> };
    t.match(template, {
      name: 'Logon',
      uuid: '',
      version: 0,
      isSmartcardProfileTemplate: true,
      policies: {
        Enroll: {
          enabled: true,
          selfServiceEnabled: true,
          approvalsNeeded: 1,
          authorizedApprovers: ['group:managers'],
          dataCollection: [{ name: 'City', required: true }],
        },
        OfflineUnblock: { enabled: true },
      },
      smartcardConfiguration: {
        defaultAdminKeyHex: '0102030405060708'.repeat(3),
        diversifyAdminKey: true,
        userPinOption: 2,
        userPinPolicy: { minLength: 6, characterSet: 1 },
        atrMiddleware: [{ atrPrefixHex: '3b8d', middleware: 'MSBaseCSP' }],
        adminKeyAlgorithm: 'AES128',
      },
      certificateTemplates: [{ templateCommonName: 'SmartcardLogon', keySize: 2048 }],
    });
  });

  t.test('malformed template bodies are 400s before any call', async (t) => {
    const bodies: [unknown, RegExp][] = [
      [{}, /name is required/],
      [{ name: 'x', policies: { Adopt: { enabled: true } } }, /policies/],
      [{ name: 'x', smartcardconfiguration: { defaultadminkeyhex: 'xyz' } }, /defaultadminkeyhex must be hex/],
      [{ name: 'x', smartcardconfiguration: { userpinoption: 'Sometimes' } }, /userpinoption must be a UserPinOption/],
      [{ name: 'x', smartcardconfiguration: { adminkeyalgorithm: 'DES' } }, /adminkeyalgorithm must be one of/],
      [{ name: 'x', policies: { Enroll: { approvalsneeded: -1 } } }, /approvalsneeded/],
    ];
    for (const [body, message] of bodies) {
      const response = await call(gateway, `${BASE}/profiletemplates`, { method: 'POST', body });
      t.equal(response.status, 400, JSON.stringify(body));
      t.match(response.json, { Code: 'INVALID_ARGUMENT', Message: message });
    }
    t.equal(core.calls.length, 0);
  });

  t.test('PUT and DELETE /profiletemplates/{id}', async (t) => {
    core.answer('UpdateProfileTemplate', { reply: { ...coreTemplate, version: 4 } });
    const updated = await call(gateway, `${BASE}/profiletemplates/${TEMPLATE.toUpperCase()}`, {
      method: 'PUT',
      body: { name: 'Renamed', smartcardconfiguration: { defaultadminkeyhex: null } },
    });
    t.equal(updated.status, 200);
    t.match(updated.json, { Uuid: TEMPLATE, Version: 4, SmartcardConfiguration: { DefaultAdminKeyHex: null } });
    t.match(core.lastCall('UpdateProfileTemplate').request, { uuid: TEMPLATE, template: { name: 'Renamed' } });
    t.notOk(
      'defaultAdminKeyHex' in (core.lastCall('UpdateProfileTemplate').request.template as { smartcardConfiguration: object }).smartcardConfiguration,
    );
    core.answer('DeleteProfileTemplate', { reply: {} });
    const deleted = await call(gateway, `${BASE}/profiletemplates/${TEMPLATE}`, { method: 'DELETE' });
    t.equal(deleted.status, 204);
    t.equal(deleted.text, '');
    t.same(core.lastCall('DeleteProfileTemplate').request, { uuid: TEMPLATE });
  });
});
