// The domain's records. Field names follow the proto messages (camelCase of SPEC section 5),
// so the gRPC edge can hand them out without reshaping; internal fields are marked.

export type { AdminKeyAlgorithm } from '../../workers/crypto/admin-key.js';
import type { AdminKeyAlgorithm } from '../../workers/crypto/admin-key.js';

export interface DataCollectionItem {
  name: string;
  required: boolean;
}

export interface WorkflowPolicy {
  enabled: boolean;
  selfServiceEnabled: boolean;
  enrollAgentRequired: boolean;
  approvalsNeeded: number;
  authorizedInitiators: string[];
  authorizedApprovers: string[];
  authorizedEnrollmentAgents: string[];
  collectComments: boolean;
  dataCollection: DataCollectionItem[];
}

export interface UserPinPolicy {
  minLength: number;
  maxLength: number;
  characterSet: number;
  serverPinLength: number;
}

export interface AtrMiddleware {
  atrPrefixHex: string;
  middleware: string;
}

export interface SmartcardConfiguration {
  /** Absent in answers to callers who may not see it. */
  defaultAdminKeyHex?: string;
  diversifyAdminKey: boolean;
  userPinOption: number;
  userPinPolicy: UserPinPolicy;
  allowSmartcardReuse: boolean;
  maxNumberOfCertificates: number;
  atrMiddleware: AtrMiddleware[];
  adminKeyAlgorithm: AdminKeyAlgorithm;
}

export interface CertificateTemplate {
  templateCommonName: string;
  keyAlgorithmName: string;
  keySize: number;
  hashAlgorithmName: string;
  keyUsages: number;
  subjectTemplate: string;
  validityDays: number;
}

export interface ProfileTemplate {
  uuid: string;
  name: string;
  description: string;
  version: number;
  isSmartcardProfileTemplate: boolean;
  isVirtualSmartcardProfileTemplate: boolean;
  /** Keyed by request type name (Enroll, Unblock, ...); a missing type is disabled. */
  policies: Record<string, WorkflowPolicy>;
  smartcardConfiguration: SmartcardConfiguration & { defaultAdminKeyHex: string };
  certificateTemplates: CertificateTemplate[];
}

export interface ProfileTemplateSummary {
  name: string;
  description: string;
  uuid: string;
  isSmartcardProfileTemplate: boolean;
  isVirtualSmartcardProfileTemplate: boolean;
}

export interface DataCollectionValue {
  name: string;
  value: string;
}

export interface Approval {
  approverUuid: string;
  approved: boolean;
  comment: string;
  at: string;
}

/** A request as SPEC 5.2 shows it. */
export interface Request {
  uuid: string;
  requestType: number;
  status: number;
  flags: number;
  dataCollection: DataCollectionValue[];
  originatorUserUuid: string;
  targetUserUuid: string;
  submitted: string;
  completed: string;
  newSmartcardUuid: string;
  oldSmartcardUuid: string;
  newProfileUuid: string;
  oldProfileUuid: string;
  priority: number;
  comment: string;
  profileTemplateUuid: string;
  isSmartcard: boolean;
  isEnrollmentAgent: boolean;
  isDataCollectionComplete: boolean;
  approvals: Approval[];
}

/** A stored request: the public view plus what the service keeps for itself. */
export interface RequestRecord extends Omit<Request, 'isSmartcard' | 'isEnrollmentAgent' | 'isDataCollectionComplete'> {
  profileTemplateVersion: number;
  originatorName: string;
  targetName: string;
  targetUpn: string;
  /** Successful challenge-responses given out for this request (SPEC 3 cap). */
  responsesIssued: number;
}

/** A smart card as SPEC 5.1 shows it. */
export interface Smartcard {
  uuid: string;
  status: number;
  flags: number;
  parentSmartcardUuid: string;
  primarySmartcardUuid: string;
  permanentSmartcardUuid: string;
  assignedUserUuid: string;
  profileTemplateUuid: string;
  profileTemplateVersion: number;
  comment: string;
  serialNumber: string;
  middleware: string;
  atr: string;
}

export interface SmartcardRecord extends Omit<Smartcard, 'serialNumber'> {
  /** The card's own id: 32 lower-case hex digits, RFC 4122 order. */
  cardId: string;
  /** Master key version the admin key was diversified with; 0 when not diversified. */
  keyVersion: number;
  /** The request that bound this card. */
  requestUuid: string;
  createdAt: string;
}

export interface AuditEntry {
  at: string;
  correlationId: string;
  callerUuid: string;
  action: string;
  requestUuid: string;
  smartcardUuid: string;
  outcome: 'Succeeded' | 'Refused';
  detail: string;
}

export interface AuditRecord extends AuditEntry {
  id: number;
}

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';
export const UNSET_TIMESTAMP = '0001-01-01T00:00:00Z';

/** Certificate status on a card or of a user (SPEC 5.7). */
export const CertificateStatus = { Valid: 0, Revoked: 1, OnHold: 2 } as const;

export interface CertificateRecord {
  serialHex: string;
  smartcardUuid: string;
  requestUuid: string;
  userUuid: string;
  templateCommonName: string;
  thumbprint: string;
  notBefore: string;
  notAfter: string;
  issuer: string;
  requesterName: string;
  status: number;
  /** When it was revoked or put on hold; '' while valid. */
  revokedAt: string;
  /** RFC 5280 CRLReason while revoked or on hold. */
  reason: number;
  der: Buffer;
  issuedAt: string;
}
