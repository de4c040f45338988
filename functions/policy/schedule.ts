/** Seconds between runs of an EventBridge rate() schedule; 60 for cron() schedules. */
export function scheduleIntervalSeconds(schedule: string): number {
  const match = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(schedule);
  if (!match) return 60;
  const unit = { minute: 60, hour: 3600, day: 86400 }[match[2] as 'minute' | 'hour' | 'day'];
  return Number(match[1]) * unit;
}
