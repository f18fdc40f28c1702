// Who is calling: the verified identity the domain authorises against.

export interface Caller {
  /** The user GUID (lower case). */
  userUuid: string;
  name: string;
  upn: string;
  groups: string[];
  isAdmin: boolean;
  /** `user:<guid>` and one `group:<name>` per group: what policies name. */
  principals: ReadonlySet<string>;
}

export function makeCaller(input: { userUuid: string; name?: string; upn?: string; groups?: string[] }, adminGroup: string): Caller {
  const groups = input.groups ?? [];
  const principals = new Set<string>([`user:${input.userUuid}`]);
  for (const g of groups) principals.add(`group:${g}`);
  return {
    userUuid: input.userUuid,
    name: input.name ?? '',
    upn: input.upn ?? '',
    groups,
    isAdmin: groups.includes(adminGroup),
    principals,
  };
}

/** Whether the caller is one of the principals a policy names (case-insensitively for groups). */
export function callerIsOneOf(caller: Caller, principals: readonly string[]): boolean {
  for (const p of principals) {
    if (caller.principals.has(p)) return true;
    if (p.startsWith('group:')) {
      const wanted = p.slice(6).toLowerCase();
      if (caller.groups.some((g) => g.toLowerCase() === wanted)) return true;
    }
  }
  return false;
}
