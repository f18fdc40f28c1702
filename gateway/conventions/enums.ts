// REST names of the cm.v1 enumerations, derived from the proto enums themselves:
// SMARTCARD_STATUS_ACTIVE <-> "Active", REQUEST_TYPE_OFFLINE_UNBLOCK <-> "OfflineUnblock".
// Input accepts a name in any case, with or without underscores or the proto prefix, or the number.
import { PinCharacterSet } from '../../proto/gen/cm/v1/PinCharacterSet.js';
import { RequestStatus } from '../../proto/gen/cm/v1/RequestStatus.js';
import { RequestType } from '../../proto/gen/cm/v1/RequestType.js';
import { SmartcardStatus } from '../../proto/gen/cm/v1/SmartcardStatus.js';
import { UserPinOption } from '../../proto/gen/cm/v1/UserPinOption.js';

export interface EnumTable<Value extends number = number> {
  /** The enum's name, as in the proto (RequestStatus). */
  readonly name: string;
  /** REST name by number. */
  readonly names: ReadonlyMap<number, string>;
  /** Parses a REST name or number; undefined when it is neither. */
  parse(text: string): Value | undefined;
}

const squash = (text: string): string => text.replace(/_/g, '').toLowerCase();

function enumTable<Values extends Readonly<Record<string, number>>>(
  name: string,
  values: Values,
): EnumTable<Values[keyof Values]> {
  type Value = Values[keyof Values];
  const protoNames = Object.keys(values);
  const prefix = protoNames.reduce((common, each) => {
    let length = 0;
    while (length < common.length && common[length] === each[length]) length++;
    return common.slice(0, length);
  });
  const cut = prefix.slice(0, prefix.lastIndexOf('_') + 1);
  const names = new Map<number, string>();
  const byInput = new Map<string, Value>();
  for (const protoName of protoNames) {
    const number = values[protoName] as Value;
    const restName = protoName
      .slice(cut.length)
      .split('_')
      .map((word) => word.charAt(0) + word.slice(1).toLowerCase())
      .join('');
    names.set(number, restName);
    byInput.set(squash(restName), number);
    byInput.set(squash(protoName), number);
  }
  return {
    name,
    names,
    parse(text) {
      const trimmed = text.trim();
      if (/^\d{1,9}$/.test(trimmed)) {
        const number = Number(trimmed);
        return names.has(number) ? (number as Value) : undefined;
      }
      return byInput.get(squash(trimmed));
    },
  };
}

export const SMARTCARD_STATUS = enumTable('SmartcardStatus', SmartcardStatus);
export const REQUEST_STATUS = enumTable('RequestStatus', RequestStatus);
export const REQUEST_TYPE = enumTable('RequestType', RequestType);
export const USER_PIN_OPTION = enumTable('UserPinOption', UserPinOption);
export const PIN_CHARACTER_SET = enumTable('PinCharacterSet', PinCharacterSet);

export const ENUM_TABLES: readonly EnumTable[] = [SMARTCARD_STATUS, REQUEST_STATUS, REQUEST_TYPE, USER_PIN_OPTION, PIN_CHARACTER_SET];

/** The REST name of a value (its number as text when the proto has no such value). */
export function restName(table: EnumTable, value: number): string {
  return table.names.get(value) ?? String(value);
}
