/**
 * The ready-made stack: one PassengerFleetMonitor, an optional e-mail
 * subscription for its alarms, and the outputs a newcomer needs next
 * (the policy to attach to the instances' role, the table, the
 * dashboard).
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import {
  PassengerFleetMonitor,
  type PassengerFleetMonitorProps,
} from './passenger-fleet-monitor.ts';

export interface PassengerFleetStackProps
  extends StackProps, PassengerFleetMonitorProps {
  /**
   * Subscribes this address to the alarm topic (AWS sends a confirmation
   * mail first).
   * @default no subscription
   */
  readonly alarmEmail?: string;
}

export class PassengerFleetStack extends Stack {
  readonly monitor: PassengerFleetMonitor;

  constructor(scope: Construct, id: string, props: PassengerFleetStackProps) {
    super(scope, id, props);
    this.monitor = new PassengerFleetMonitor(this, 'Monitor', props);
    if (props.alarmEmail !== undefined) {
      this.monitor.alarmTopic.addSubscription(
        new EmailSubscription(props.alarmEmail),
      );
    }

    new CfnOutput(this, 'AgentPolicyArn', {
      description: "Attach to the fleet instances' role",
      value: this.monitor.agentPolicy.managedPolicyArn,
    });
    new CfnOutput(this, 'TableName', { value: this.monitor.table.tableName });
    new CfnOutput(this, 'OrderDocumentName', {
      value: this.monitor.orderDocument.ref,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.monitor.alarmTopic.topicArn,
    });
    new CfnOutput(this, 'DashboardName', {
      value: this.monitor.dashboard.dashboardName,
    });
  }
}
