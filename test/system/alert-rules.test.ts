import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
type Rule = { alert?: string; annotations?: Record<string, string> };
const rules = (parse(readFileSync(repo('prometheus/rules.yml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);
type Case = { alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> };
const cases = (parse(readFileSync(repo('prometheus/rules.test.yml'), 'utf8')) as { tests: Case[] }).tests.flatMap((t) => t.alert_rule_test);
/** GitHub's anchor of each heading of the operations page, where the runbook is. */
const anchors = new Set(
  readFileSync(repo('docs/operations.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('#'))
    .map((line) => line.replace(/^#+\s*/, '').trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')),
);

describe('the alert rules', () => {
  it('pass their unit tests (promtool test rules)', () => {
    const out = execFileSync('promtool', ['test', 'rules', repo('prometheus/rules.test.yml')], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
  });

  it.each(alerts.map((a) => a.alert!))('%s has a case that fires and one that must not, and a runbook in docs/operations.md', (name) => {
    const mine = cases.filter((c) => c.alertname === name);
    expect(mine.some((c) => c.exp_alerts.length > 0), 'a case where it fires').toBe(true);
    expect(mine.some((c) => c.exp_alerts.length === 0), 'a case where it must not (or not yet)').toBe(true);
    const annotations = alerts.find((a) => a.alert === name)!.annotations!;
    expect(Object.keys(annotations).sort()).toEqual(['description', 'runbook_url', 'summary']);
    expect(annotations.runbook_url).toBe(`docs/operations.md#${name.toLowerCase()}`);
    expect(anchors.has(name.toLowerCase()), `docs/operations.md has a "#### ${name}" section`).toBe(true);
  });
});
