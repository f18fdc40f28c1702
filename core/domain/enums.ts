// The enumerations of SPEC section 4, with the numbers written in responses. The proto
// declares the same numbers; these constants let the domain read as prose.

export const SmartcardStatus = {
  None: 0,
  New: 1,
  Assigned: 2,
  Active: 3,
  Disabled: 4,
  Suspended: 5,
  Retired: 6,
} as const;
export type SmartcardStatus = (typeof SmartcardStatus)[keyof typeof SmartcardStatus];

export const SmartcardFlags = {
  Primary: 1,
  Duplicate: 2,
  Temporary: 4,
  Reused: 8,
  Superseded: 16,
  KeyEscrow: 32,
} as const;

export const RequestStatus = {
  None: 0,
  Pending: 1,
  Denied: 2,
  Approved: 3,
  Executing: 4,
  Failed: 5,
  Canceled: 6,
  Abandoned: 7,
  Completed: 8,
} as const;
export type RequestStatus = (typeof RequestStatus)[keyof typeof RequestStatus];

export const RequestType = {
  None: 0,
  Enroll: 1,
  Duplicate: 2,
  Renew: 3,
  Recover: 4,
  Unblock: 5,
  OfflineUnblock: 6,
  OnlineUpdate: 7,
  Retire: 8,
  Revoke: 9,
  Reinstate: 10,
  RecoverOnBehalf: 11,
  TemporaryCards: 12,
} as const;
export type RequestType = (typeof RequestType)[keyof typeof RequestType];

export const RequestFlags = { EnrollmentAgent: 1, Smartcard: 2 } as const;

export const UserPinOption = { None: 0, UserProvided: 1, ServerDistributed: 2, Randomized: 3 } as const;
export type UserPinOption = (typeof UserPinOption)[keyof typeof UserPinOption];

export const PinCharacterSet = { Numeric: 0, Alphanumeric: 1, AsciiPrintable: 2 } as const;
export type PinCharacterSet = (typeof PinCharacterSet)[keyof typeof PinCharacterSet];

/** Request type names, keyed by number: the keys of a template's `Policies`. */
export const REQUEST_TYPE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(RequestType)
    .filter(([, n]) => n !== RequestType.None)
    .map(([name, n]) => [n, name]),
);

const REQUEST_TYPE_BY_LOWER_NAME: ReadonlyMap<string, RequestType> = new Map(
  [...REQUEST_TYPE_NAMES].map(([n, name]) => [name.toLowerCase(), n as RequestType]),
);

export function requestTypeFromName(name: string): RequestType | undefined {
  return REQUEST_TYPE_BY_LOWER_NAME.get(name.toLowerCase());
}

export function isRequestType(n: number): n is RequestType {
  return REQUEST_TYPE_NAMES.has(n);
}

/** Types that put a new card in the field: they bind a card and complete by activating it. */
export const CARD_ISSUING_TYPES: ReadonlySet<number> = new Set([
  RequestType.Enroll,
  RequestType.Duplicate,
  RequestType.Renew,
  RequestType.Recover,
  RequestType.TemporaryCards,
]);

/** Types that act on an existing card, named in the request's `smartcard`. */
export const CARD_REFERENCING_TYPES: ReadonlySet<number> = new Set([
  RequestType.Duplicate,
  RequestType.Renew,
  RequestType.Recover,
  RequestType.Retire,
  RequestType.Revoke,
  RequestType.Reinstate,
  RequestType.Unblock,
  RequestType.OfflineUnblock,
  RequestType.OnlineUpdate,
  RequestType.RecoverOnBehalf,
]);

export const FINAL_REQUEST_STATUSES: ReadonlySet<number> = new Set([
  RequestStatus.Completed,
  RequestStatus.Denied,
  RequestStatus.Canceled,
  RequestStatus.Abandoned,
  RequestStatus.Failed,
]);

/** Approved or Executing: the states in which a request may be executed. */
export function isOpenForExecution(status: number): boolean {
  return status === RequestStatus.Approved || status === RequestStatus.Executing;
}

export const LIVE_CARD_STATUSES: ReadonlySet<number> = new Set([
  SmartcardStatus.Assigned,
  SmartcardStatus.Active,
  SmartcardStatus.Suspended,
]);
