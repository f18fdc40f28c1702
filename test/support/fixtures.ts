// People and templates the tests share.

export const USERS = {
  admin: { sub: 'a0000000-0000-4000-8000-000000000001', name: 'Ada Admin', groups: ['cm-admins'] },
  agent: { sub: 'a0000000-0000-4000-8000-000000000002', name: 'Eve Agent', groups: ['cm-agents'] },
  user: { sub: '8f1590dc-d932-4b66-8e68-2e91c5880780', name: 'Jane Doe', upn: 'jane@contoso.com', groups: ['staff'] },
  approver: { sub: 'a0000000-0000-4000-8000-000000000004', name: 'Abe Approver', groups: ['cm-approvers'] },
  approver2: { sub: 'a0000000-0000-4000-8000-000000000005', name: 'Bea Approver', groups: ['cm-approvers'] },
  other: { sub: 'a0000000-0000-4000-8000-000000000006', name: 'Oscar Other', groups: ['staff'] },
};

const agentPolicy = (extra: object = {}) => ({
  Enabled: true,
  SelfServiceEnabled: false,
  AuthorizedInitiators: ['group:cm-agents'],
  AuthorizedApprovers: ['group:cm-approvers'],
  AuthorizedEnrollmentAgents: ['group:cm-agents'],
  ...extra,
});

/** A template in REST shape (PascalCase). */
export function restTemplate(overrides: { name?: string; algorithm?: string; defaultKey?: string; diversify?: boolean; pinOption?: string; approvals?: number; reuse?: boolean; certificateTemplates?: object[] } = {}) {
  return {
    Name: overrides.name ?? 'Contoso smart card',
    Description: 'Smart card logon for staff',
    Policies: {
      Enroll: {
        Enabled: true,
        SelfServiceEnabled: true,
        EnrollAgentRequired: false,
        ApprovalsNeeded: overrides.approvals ?? 0,
        AuthorizedInitiators: ['group:cm-agents'],
        AuthorizedApprovers: ['group:cm-approvers'],
        AuthorizedEnrollmentAgents: ['group:cm-agents'],
      },
      Retire: agentPolicy(),
      Revoke: agentPolicy(),
      Reinstate: agentPolicy(),
      Unblock: agentPolicy({ SelfServiceEnabled: true }),
      OfflineUnblock: agentPolicy({ SelfServiceEnabled: true }),
    },
    SmartcardConfiguration: {
      AdminKeyAlgorithm: overrides.algorithm ?? '3DES',
      DefaultAdminKeyHex: overrides.defaultKey ?? '000000000000000000000000000000000000000000000000',
      DiversifyAdminKey: overrides.diversify ?? true,
      UserPinOption: overrides.pinOption ?? 'ServerDistributed',
      UserPinPolicy: { MinLength: 6, MaxLength: 16, CharacterSet: 'Numeric', ServerPinLength: 8 },
      AllowSmartcardReuse: overrides.reuse ?? false,
    },
    CertificateTemplates: overrides.certificateTemplates ?? [
      { TemplateCommonName: 'SmartcardLogon', KeyAlgorithmName: 'RSA', KeySize: 2048, KeyUsages: 3, SubjectTemplate: 'CN={name}', ValidityDays: 365 },
    ],
  };
}

/** The same template in gRPC shape (camelCase, enums as numbers). */
export function grpcTemplate(overrides: Parameters<typeof restTemplate>[0] = {}) {
  const camel = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(camel);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.length && /^[A-Z][a-z]/.test(k) && !POLICY_KEYS.has(k) ? k[0]!.toLowerCase() + k.slice(1) : k, camel(x)]));
    }
    return v;
  };
  const t = camel(restTemplate(overrides)) as any;
  t.smartcardConfiguration.userPinOption = { None: 0, UserProvided: 1, ServerDistributed: 2, Randomized: 3 }[t.smartcardConfiguration.userPinOption as string];
  t.smartcardConfiguration.userPinPolicy.characterSet = 0;
  return t;
}

const POLICY_KEYS = new Set(['Enroll', 'Retire', 'Revoke', 'Reinstate', 'Unblock', 'OfflineUnblock']);
