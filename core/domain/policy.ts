// Who may do what (SPEC 3): pure functions of the caller, the template and the request.

import { callerIsOneOf, type Caller } from '../auth/caller.js';
import { REQUEST_TYPE_NAMES } from './enums.js';
import type { ProfileTemplate, RequestRecord, WorkflowPolicy } from './types.js';

export const DISABLED_POLICY: Readonly<WorkflowPolicy> = Object.freeze({
  enabled: false,
  selfServiceEnabled: false,
  enrollAgentRequired: false,
  approvalsNeeded: 0,
  authorizedInitiators: [],
  authorizedApprovers: [],
  authorizedEnrollmentAgents: [],
  collectComments: false,
  dataCollection: [],
});

export function policyFor(template: ProfileTemplate, requestType: number): WorkflowPolicy {
  const name = REQUEST_TYPE_NAMES.get(requestType);
  return (name && template.policies[name]) || DISABLED_POLICY;
}

export function mayInitiate(caller: Caller, template: ProfileTemplate, requestType: number, targetUserUuid: string): boolean {
  const policy = policyFor(template, requestType);
  if (!policy.enabled) return false;
  return (policy.selfServiceEnabled && targetUserUuid === caller.userUuid) || callerIsOneOf(caller, policy.authorizedInitiators);
}

export function mayApprove(caller: Caller, template: ProfileTemplate, request: RequestRecord): boolean {
  if (caller.userUuid === request.originatorUserUuid || caller.userUuid === request.targetUserUuid) return false;
  return callerIsOneOf(caller, policyFor(template, request.requestType).authorizedApprovers);
}

/** Executors bind cards, fetch keys, responses and PINs, upload CSRs, set card status, complete. */
export function mayExecute(caller: Caller, template: ProfileTemplate, request: Pick<RequestRecord, 'requestType' | 'targetUserUuid'>): boolean {
  const policy = policyFor(template, request.requestType);
  if (policy.selfServiceEnabled && !policy.enrollAgentRequired && request.targetUserUuid === caller.userUuid) return true;
  return callerIsOneOf(caller, policy.authorizedEnrollmentAgents);
}

/** Request types whose policy makes the caller an executor of someone else's requests. */
export function typesExecutableForOthers(caller: Caller, template: ProfileTemplate): number[] {
  return [...REQUEST_TYPE_NAMES.keys()].filter((t) => callerIsOneOf(caller, policyFor(template, t).authorizedEnrollmentAgents));
}

/** Request types the caller may execute when they are the target. */
export function typesExecutableForSelf(template: ProfileTemplate): number[] {
  return [...REQUEST_TYPE_NAMES.keys()].filter((t) => {
    const p = policyFor(template, t);
    return p.selfServiceEnabled && !p.enrollAgentRequired;
  });
}

export function maySeeRequest(caller: Caller, template: ProfileTemplate | undefined, request: RequestRecord): boolean {
  if (caller.isAdmin) return true;
  if (caller.userUuid === request.targetUserUuid || caller.userUuid === request.originatorUserUuid) return true;
  if (!template) return false;
  const policy = policyFor(template, request.requestType);
  return callerIsOneOf(caller, policy.authorizedApprovers) || callerIsOneOf(caller, policy.authorizedEnrollmentAgents);
}

export function maySeeTemplate(caller: Caller, template: ProfileTemplate): boolean {
  return caller.isAdmin || mayInitiateSomething(caller, template) || mayActOnSomething(caller, template);
}

/** The list view shows templates the caller may initiate some request on. */
export function mayInitiateSomething(caller: Caller, template: ProfileTemplate): boolean {
  return Object.values(template.policies).some(
    (p) => p.enabled && (p.selfServiceEnabled || callerIsOneOf(caller, p.authorizedInitiators)),
  );
}

function mayActOnSomething(caller: Caller, template: ProfileTemplate): boolean {
  return Object.values(template.policies).some(
    (p) => callerIsOneOf(caller, p.authorizedApprovers) || callerIsOneOf(caller, p.authorizedEnrollmentAgents),
  );
}
