/** A setup file of every test project: the scratch folders a file made outside its tests go once it has ended (scratch.ts). */
import { afterAll } from 'vitest';
import { removeFileScratchDirs } from './scratch';

// Registered before the file's own hooks: with vitest's default order (after-hooks in reverse), it runs after the
// file's afterAll hooks.
afterAll(removeFileScratchDirs);
