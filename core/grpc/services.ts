// The cm.v1 service implementations: one line of translation per RPC between the proto
// messages and the domain services, which do all the work.

import type { AuditServiceHandlers } from '../../proto/gen/cm/v1/AuditService.js';
import type { ProfileTemplateServiceHandlers } from '../../proto/gen/cm/v1/ProfileTemplateService.js';
import type { RequestServiceHandlers } from '../../proto/gen/cm/v1/RequestService.js';
import type { SmartcardServiceHandlers } from '../../proto/gen/cm/v1/SmartcardService.js';
import type { Domain } from '../domain/index.js';
import { publicRequest } from '../domain/requests.js';
import { publicSmartcard } from '../domain/smartcards.js';
import type { TemplateInput } from '../domain/template-input.js';
import { keyRelease, unary, type CallEdge } from './call.js';
import { batchAuthenticationResponses, type StreamRegistry } from './batch.js';

const created = (kind: string, uuid: string, isNew = true) => ({ uuid, uri: `api/v1.0/${kind}/${uuid}`, created: isNew });

export function profileTemplateHandlers(edge: CallEdge, d: Domain): ProfileTemplateServiceHandlers {
  return {
    ListProfileTemplates: unary(edge, 'ListProfileTemplates', async (_req, ctx) => ({ profileTemplates: await d.templates.list(ctx) })),
    GetProfileTemplate: unary(edge, 'GetProfileTemplate', (req, ctx) => d.templates.get(ctx, req.uuid)),
    GetWorkflowPolicy: unary(edge, 'GetWorkflowPolicy', (req, ctx) => d.templates.getPolicy(ctx, req.uuid, req.type as number)),
    GetSmartcardConfiguration: unary(edge, 'GetSmartcardConfiguration', (req, ctx) => d.templates.getConfiguration(ctx, req.uuid)),
    CreateProfileTemplate: unary(edge, 'CreateProfileTemplate', async (req, ctx) =>
      created('profiletemplates', (await d.templates.create(ctx, (req.template ?? {}) as TemplateInput)).uuid),
    ),
    UpdateProfileTemplate: unary(edge, 'UpdateProfileTemplate', (req, ctx) =>
      d.templates.update(ctx, req.uuid, (req.template ?? {}) as TemplateInput),
    ),
    DeleteProfileTemplate: unary(edge, 'DeleteProfileTemplate', async (req, ctx) => {
      await d.templates.delete(ctx, req.uuid);
      return {};
    }),
  };
}

export function requestHandlers(edge: CallEdge, d: Domain): RequestServiceHandlers {
  return {
    CreateRequest: unary(edge, 'CreateRequest', async (req, ctx) =>
      created(
        'requests',
        (
          await d.requests.create(ctx, {
            profileTemplateUuid: req.profileTemplateUuid,
            type: req.type as number,
            target: req.target,
            dataCollection: req.dataCollection,
            comment: req.comment,
            priority: req.priority,
            smartcard: req.smartcard,
          })
        ).uuid,
      ),
    ),
    GetRequest: unary(edge, 'GetRequest', async (req, ctx) => publicRequest(await d.requests.get(ctx, req.uuid))),
    ListRequests: unary(edge, 'ListRequests', async (req, ctx) => ({
      requests: (await d.requests.list(ctx, req.targetUser, req.status as number)).map(publicRequest),
    })),
    UpdateRequestStatus: unary(edge, 'UpdateRequestStatus', async (req, ctx) =>
      publicRequest(await d.requests.updateStatus(ctx, req.uuid, req.status as number, req.comment)),
    ),
  };
}

export function smartcardHandlers(edge: CallEdge, d: Domain, streams: StreamRegistry): SmartcardServiceHandlers {
  return {
    AssignSmartcard: unary(edge, 'AssignSmartcard', async (req, ctx) => {
      const { card, created: isNew } = await d.smartcards.assign(ctx, { requestId: req.requestId, cardId: req.cardId, atr: req.atr });
      return created('smartcards', card.uuid, isNew);
    }),
    GetSmartcard: unary(edge, 'GetSmartcard', async (req, ctx) => publicSmartcard(await d.smartcards.get(ctx, req.uuid))),
    FindSmartcard: unary(edge, 'FindSmartcard', async (req, ctx) => publicSmartcard(await d.smartcards.find(ctx, req.cardId))),
    UpdateSmartcardStatus: unary(edge, 'UpdateSmartcardStatus', async (req, ctx) =>
      publicSmartcard(await d.smartcards.updateStatus(ctx, req.requestUuid, req.smartcardUuid, req.status as number)),
    ),
    ListSmartcardOperations: unary(edge, 'ListSmartcardOperations', async (req, ctx) => ({
      operations: await d.smartcards.operations(ctx, req.uuid),
    })),
    GetAuthenticationResponse: keyRelease(edge, 'GetAuthenticationResponse', async (req, ctx) => ({
      value: await d.cardSecrets.authenticationResponse(ctx, req),
      present: true,
    })),
    GetDiversifiedKey: keyRelease(edge, 'GetDiversifiedKey', async (req, ctx) => ({
      value: await d.cardSecrets.diversifiedKey(ctx, req),
      present: true,
    })),
    GetServerProposedPin: keyRelease(edge, 'GetServerProposedPin', async (req, ctx) => {
      const pin = await d.cardSecrets.serverProposedPin(ctx, req);
      return { value: pin ?? '', present: pin !== undefined };
    }),
    ComputeAuthenticationResponses: (call) => batchAuthenticationResponses(edge, d, streams, call),
  };
}

export function auditHandlers(edge: CallEdge, d: Domain): AuditServiceHandlers {
  return {
    ListAuditRecords: unary(edge, 'ListAuditRecords', async (req, ctx) => ({ records: await d.audit.list(ctx, req) })),
  };
}
