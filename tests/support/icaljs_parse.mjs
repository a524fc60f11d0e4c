// Parse an iCalendar file with Mozilla's ical.js (the parser inside Thunderbird) and
// print its components as JSON, for tests/support/calendars.py.
//
//   node tests/support/icaljs_parse.mjs feed.ics
//
// Prints {"calendar": {...}, "components": [{uid, type, summary, start, end, due,
// allDay, status, sequence, url, alarms: [trigger]}, ...]}. Instants are ISO 8601 in
// UTC ("2026-11-02T22:00:00.000Z"); all-day dates are "2026-11-02". Any parse error
// exits non-zero with the message on stderr.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

function when(time) {
  if (!time) return null;
  if (time.isDate) return time.toString();
  return time.toJSDate().toISOString();
}

const text = readFileSync(process.argv[2], "utf8");
const root = new ICAL.Component(ICAL.parse(text));
const components = [];
for (const type of ["vevent", "vtodo"]) {
  for (const component of root.getAllSubcomponents(type)) {
    const start = component.getFirstPropertyValue("dtstart");
    components.push({
      type,
      uid: component.getFirstPropertyValue("uid"),
      summary: component.getFirstPropertyValue("summary"),
      description: component.getFirstPropertyValue("description"),
      start: when(start),
      end: when(component.getFirstPropertyValue("dtend")),
      due: when(component.getFirstPropertyValue("due")),
      allDay: start ? start.isDate : null,
      status: component.getFirstPropertyValue("status"),
      sequence: component.getFirstPropertyValue("sequence"),
      url: component.getFirstPropertyValue("url"),
      alarms: component.getAllSubcomponents("valarm").map((alarm) => {
        const trigger = alarm.getFirstPropertyValue("trigger");
        return trigger && trigger.toJSDate ? trigger.toJSDate().toISOString() : String(trigger);
      }),
    });
  }
}
const calendar = {};
for (const name of ["version", "prodid", "name", "x-wr-calname", "refresh-interval", "x-published-ttl"]) {
  const value = root.getFirstPropertyValue(name);
  calendar[name] = value === null ? null : String(value);
}
process.stdout.write(JSON.stringify({ calendar, components }));
