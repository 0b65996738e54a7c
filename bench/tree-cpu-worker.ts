/**
 * The thread of a TreeCpuMeter (tree-cpu.ts): samples the tree at once, then every
 * `everyMs`, and at the meter's stop() once more, answering with the sum. It tells the
 * meter, which waits blocked on `progress`, when each of the first and the last is done;
 * should a sample fail, its error goes to the meter in place of the answer.
 */
import { workerData } from 'node:worker_threads';
import { TreeCpuSampler, type MeterSetup } from './tree-cpu.js';

const { root, everyMs, port, progress } = workerData as MeterSetup;
const sampler = new TreeCpuSampler(root);

/** Runs `step`, then lets the meter go on past `stage`. */
function reach(stage: number, step: () => void): void {
  try {
    step();
  } catch (error) {
    port.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
  Atomics.store(progress, 0, stage);
  Atomics.notify(progress, 0);
}

reach(1, () => sampler.sample(true));
const timer = setInterval(() => sampler.sample(false), everyMs);
port.once('message', () => {
  clearInterval(timer);
  reach(2, () => {
    sampler.sample(false);
    port.postMessage(sampler.result());
  });
  port.close();
});
