// Profile templates (SPEC 5.3): reads for whoever may use a template, writes for administrators.

import { forbidden, notFound, wrongState } from '../errors.js';
import type { Store } from '../storage/repository.js';
import { auditEntry, type CallContext, type Clock } from './context.js';
import { isRequestType } from './enums.js';
import { newUuid, requireGuid } from './ids.js';
import {
  mayInitiateSomething,
  maySeeTemplate,
  policyFor,
  typesExecutableForOthers,
  typesExecutableForSelf,
} from './policy.js';
import { normaliseTemplate, type TemplateInput } from './template-input.js';
import type { ProfileTemplate, ProfileTemplateSummary, SmartcardConfiguration, WorkflowPolicy } from './types.js';
import { invalidArgument } from '../errors.js';

export class ProfileTemplateService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async list(ctx: CallContext): Promise<ProfileTemplateSummary[]> {
    const all = await this.store.read.templates.list();
    return all
      .filter((t) => ctx.caller.isAdmin || mayInitiateSomething(ctx.caller, t))
      .map((t) => ({
        name: t.name,
        description: t.description,
        uuid: t.uuid,
        isSmartcardProfileTemplate: t.isSmartcardProfileTemplate,
        isVirtualSmartcardProfileTemplate: t.isVirtualSmartcardProfileTemplate,
      }));
  }

  /** The template as the caller may see it (the default admin key hidden unless allowed). */
  async get(ctx: CallContext, uuid: string): Promise<Omit<ProfileTemplate, 'smartcardConfiguration'> & { smartcardConfiguration: SmartcardConfiguration }> {
    const template = await this.visibleTemplate(ctx, uuid);
    return { ...template, smartcardConfiguration: await this.configurationFor(ctx, template) };
  }

  async getPolicy(ctx: CallContext, uuid: string, requestType: number): Promise<WorkflowPolicy> {
    if (!isRequestType(requestType)) throw invalidArgument('The request type is not known.');
    const template = await this.visibleTemplate(ctx, uuid);
    return policyFor(template, requestType);
  }

  async getConfiguration(ctx: CallContext, uuid: string): Promise<SmartcardConfiguration> {
    return this.configurationFor(ctx, await this.visibleTemplate(ctx, uuid));
  }

  async create(ctx: CallContext, input: TemplateInput): Promise<ProfileTemplate> {
    this.requireAdmin(ctx);
    const template = normaliseTemplate(input, newUuid(), 1);
    await this.store.transaction(async (tx) => {
      await tx.templates.insert(template);
      await tx.audit.append(auditEntry(ctx, this.clock.now(), 'CreateProfileTemplate', 'Succeeded', {}, { templateUuid: template.uuid }));
    });
    return template;
  }

  async update(ctx: CallContext, uuid: string, input: TemplateInput): Promise<ProfileTemplate> {
    this.requireAdmin(ctx);
    const id = requireGuid(uuid, 'The profile template id');
    return this.store.transaction(async (tx) => {
      // Locked: two updates never write the same version number.
      const current = await tx.templates.get(id, 'update');
      if (!current) throw notFound('The profile template');
      const next = normaliseTemplate(input, id, current.version + 1);
      await tx.templates.update(next);
      await tx.audit.append(
        auditEntry(ctx, this.clock.now(), 'UpdateProfileTemplate', 'Succeeded', {}, { templateUuid: id, version: next.version }),
      );
      return next;
    });
  }

  async delete(ctx: CallContext, uuid: string): Promise<void> {
    this.requireAdmin(ctx);
    const id = requireGuid(uuid, 'The profile template id');
    await this.store.transaction(async (tx) => {
      // Locked: a request being created on it (which holds it against deletion) commits first, and is counted.
      if (!(await tx.templates.get(id, 'update'))) throw notFound('The profile template');
      if (await tx.templates.isReferenced(id)) throw wrongState('Requests or smart cards still refer to this profile template.');
      await tx.templates.delete(id);
      await tx.audit.append(auditEntry(ctx, this.clock.now(), 'DeleteProfileTemplate', 'Succeeded', {}, { templateUuid: id }));
    });
  }

  private requireAdmin(ctx: CallContext): void {
    // Templates are configuration: a non-administrator learns nothing, not even whether one exists.
    if (!ctx.caller.isAdmin) throw forbidden('Only administrators manage profile templates.');
  }

  private async visibleTemplate(ctx: CallContext, uuid: string): Promise<ProfileTemplate> {
    const template = await this.store.read.templates.get(requireGuid(uuid, 'The profile template id'));
    if (!template || !maySeeTemplate(ctx.caller, template)) throw notFound('The profile template');
    return template;
  }

  /**
   * SPEC 5.5: DefaultAdminKeyHex goes to administrators, and to executors of an Approved or
   * Executing request on this template, who need it to initialise a card; their reading is audited.
   */
  private async configurationFor(ctx: CallContext, template: ProfileTemplate): Promise<SmartcardConfiguration> {
    const { defaultAdminKeyHex, ...rest } = template.smartcardConfiguration;
    if (ctx.caller.isAdmin) return template.smartcardConfiguration;
    const requests = this.store.read.requests;
    const forOthers = typesExecutableForOthers(ctx.caller, template);
    const executor =
      (await requests.existsOpen(template.uuid, forOthers)) ||
      (await requests.existsOpen(template.uuid, typesExecutableForSelf(template), ctx.caller.userUuid));
    if (!executor) return rest;
    await this.store.transaction((tx) =>
      tx.audit.append(auditEntry(ctx, this.clock.now(), 'ReadDefaultAdminKey', 'Succeeded', {}, { templateUuid: template.uuid })),
    );
    return { ...rest, defaultAdminKeyHex };
  }
}
