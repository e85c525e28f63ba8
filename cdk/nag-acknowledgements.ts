/**
 * cdk-nag 3 names each wildcard finding after the resource as it stands
 * in the template, with references flattened: `{"Ref":"X"}` becomes
 * `<X>`, `{"Fn::GetAtt":["T","Arn"]}` becomes `<T.Arn>`, and a join is
 * joined. Building the finding id from the same ARN the policy uses
 * keeps each acknowledgement tied to that one resource, whatever the
 * stack's account, region or logical ids.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The finding id AwsSolutions-IAM5 gives this resource. */
export function wildcardFindingId(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${flattened(Stack.of(scope).resolve(resource))}]`;
}

/** Acknowledges the wildcard finding for `resource` on `scope`. */
export function acknowledgeWildcard(
  scope: IConstruct,
  resource: string,
  reason: string,
): void {
  Validations.of(scope).acknowledge({
    id: wildcardFindingId(scope, resource),
    reason,
  });
}

function flattened(node: unknown): string {
  if (typeof node === 'string') return node;
  if (typeof node !== 'object' || node === null) return JSON.stringify(node);
  const intrinsic = node as Record<string, unknown>;
  const join = intrinsic['Fn::Join'];
  if (Array.isArray(join)) {
    const [delimiter, parts] = join as [string, unknown[]];
    return parts.map(flattened).join(delimiter);
  }
  const getAtt = intrinsic['Fn::GetAtt'];
  if (Array.isArray(getAtt)) {
    return `<${getAtt.map(flattened).join('.')}>`;
  }
  if ('Ref' in intrinsic) return `<${flattened(intrinsic.Ref)}>`;
  return JSON.stringify(node);
}
