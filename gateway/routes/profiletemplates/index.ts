// Profile template routes (SPEC 5.3, 7): each the twin of one ProfileTemplateService RPC.
import type { FastifyInstance } from 'fastify';
import { toPascalCase, type JsonObject } from '../../conventions/casing.js';
import { REQUEST_TYPE } from '../../conventions/enums.js';
import { enumFormat, guid, read } from '../../conventions/values.js';
import { created, noContent, pascalList, registerRpcRoutes, rpcRoute, type RestReply } from '../../rpc-route.js';
import { arrayOf, noContentSchema, uriSchema } from '../../schemas.js';
import type { ProfileTemplate__Output } from '../../../proto/gen/cm/v1/ProfileTemplate.js';
import type { SmartcardConfiguration__Output } from '../../../proto/gen/cm/v1/SmartcardConfiguration.js';
import {
  policyParams,
  profileTemplateBody,
  profileTemplateSchema,
  profileTemplateSummarySchema,
  smartcardConfigurationSchema,
  templateParams,
  workflowPolicySchema,
} from './schemas.js';
import { templateFromBody } from './template-body.js';

const tags = ['profiletemplates'];
const requestType = enumFormat(REQUEST_TYPE);

/** SPEC 5.5: a DefaultAdminKeyHex the core left unset (not for this caller) is null. */
function shapeConfiguration(configuration: SmartcardConfiguration__Output): JsonObject {
  const shaped = toPascalCase(configuration) as JsonObject;
  return { ...shaped, DefaultAdminKeyHex: shaped.DefaultAdminKeyHex ?? null };
}

function shapeTemplate(template: ProfileTemplate__Output): RestReply {
  const shaped = toPascalCase(template) as JsonObject;
  if (template.smartcardConfiguration) shaped.SmartcardConfiguration = shapeConfiguration(template.smartcardConfiguration);
  return { status: 200, body: shaped };
}

export const profileTemplateRoutes = [
  rpcRoute({
    method: 'GET',
    paths: ['/profiletemplates'],
    summary: 'List the profile templates the caller may initiate a request on (limited view)',
    tags,
    service: 'ProfileTemplateService',
    rpc: 'ListProfileTemplates',
    refuses: [],
    responses: { 200: arrayOf(profileTemplateSummarySchema) },
    request: () => ({}),
    reply: pascalList('profileTemplates'),
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/profiletemplates/:id'],
    summary: 'Get a profile template',
    tags,
    service: 'ProfileTemplateService',
    rpc: 'GetProfileTemplate',
    refuses: [404],
    params: templateParams,
    responses: { 200: profileTemplateSchema },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id') }),
    reply: shapeTemplate,
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/profiletemplates/:id/policies/:type', '/profiletemplates/:id/policy/workflow/:type'],
    summary: 'Get the workflow policy of one request type',
    tags,
    service: 'ProfileTemplateService',
    rpc: 'GetWorkflowPolicy',
    refuses: [404],
    params: policyParams,
    responses: { 200: workflowPolicySchema },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id'), type: read(requestType, params.type, 'type') }),
    reply: (policy) => ({ status: 200, body: toPascalCase(policy) }),
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/profiletemplates/:id/configuration/smartcards'],
    summary: 'Get the smart card configuration of a profile template',
    tags,
    service: 'ProfileTemplateService',
    rpc: 'GetSmartcardConfiguration',
    refuses: [404],
    params: templateParams,
    responses: { 200: smartcardConfigurationSchema },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id') }),
    reply: (configuration) => ({ status: 200, body: shapeConfiguration(configuration) }),
  }),
  rpcRoute({
    method: 'POST',
    paths: ['/profiletemplates'],
    summary: 'Create a profile template (administrators)',
    tags,
    service: 'ProfileTemplateService',
    rpc: 'CreateProfileTemplate',
    refuses: [403],
    body: profileTemplateBody,
    responses: { 201: uriSchema },
    request: ({ body }) => ({ template: templateFromBody(body) }),
    reply: created('profiletemplates'),
  }),
  rpcRoute({
    method: 'PUT',
    paths: ['/profiletemplates/:id'],
    summary: 'Replace a profile template (administrators); its Version goes up by one',
    tags,
    service: 'ProfileTemplateService',
    rpc: 'UpdateProfileTemplate',
    refuses: [403, 404],
    params: templateParams,
    body: profileTemplateBody,
    responses: { 200: profileTemplateSchema },
    request: ({ params, body }) => ({ uuid: read(guid, params.id, 'id'), template: templateFromBody(body) }),
    reply: shapeTemplate,
  }),
  rpcRoute({
    method: 'DELETE',
    paths: ['/profiletemplates/:id'],
    summary: 'Delete a profile template no request or card refers to (administrators)',
    tags,
    service: 'ProfileTemplateService',
    rpc: 'DeleteProfileTemplate',
    refuses: [403, 404, 409],
    params: templateParams,
    responses: { 204: noContentSchema },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id') }),
    reply: noContent,
  }),
];

export default async function profileTemplates(fastify: FastifyInstance): Promise<void> {
  registerRpcRoutes(fastify, profileTemplateRoutes);
}
