import { describe, expect, it } from 'vitest';
import { stepTimeoutsProblem } from '../../lib/step-timeouts';

describe('step timeouts in a workflow input', () => {
  it.each([undefined, null, {}, { heartbeat: '5 seconds' }, { heartbeat: 1000, startToClose: '24h' }, { startToClose: '10s', heartbeat: undefined }, { heartbeat: '1.5h' }])('%j is accepted', (t) => {
    expect(stepTimeoutsProblem(t)).toBeNull();
  });

  it.each([
    [{ heartbeat: 'soon' }, /^timeouts\.heartbeat: "soon" is not a duration/],
    [{ heartbeat: '' }, /^timeouts\.heartbeat: "" is not a duration/],
    [{ startToClose: 'Infinity' }, /^timeouts\.startToClose: "Infinity" is not a duration/],
    [{ startToClose: true }, /^timeouts\.startToClose: true is not a duration/],
    [{ heartbeat: 0 }, /^timeouts\.heartbeat: 0 is outside 1 second to 24 hours$/],
    [{ heartbeat: 999 }, /^timeouts\.heartbeat: 999 is outside/],
    [{ heartbeat: -5 }, /^timeouts\.heartbeat: -5 is outside/],
    [{ startToClose: '25h' }, /^timeouts\.startToClose: "25h" is outside/],
    [{ startToClose: '0' }, /^timeouts\.startToClose: "0" is outside/],
    [{ heartbeat: '5s', scheduleToClose: '1m' }, /^timeouts\.scheduleToClose: not a step timeout/],
    ['30s', /^timeouts: an object of heartbeat and startToClose, not "30s"/],
    [['5s'], /^timeouts: an object/],
  ])('%j is refused, naming the field', (t, why) => {
    expect(stepTimeoutsProblem(t)).toMatch(why);
  });

  it("names the input's own field", () => {
    expect(stepTimeoutsProblem({ heartbeat: 'x' }, 'stepTimeouts')).toMatch(/^stepTimeouts\.heartbeat: /);
  });
});
