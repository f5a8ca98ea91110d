/** The local provider's node names of a farm, in order: the first is the manager, the rest workers. */
export function localNodeNames(farm: string, count: number): { name: string; role: 'manager' | 'worker' }[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? { name: `${farm}-manager-01`, role: 'manager' as const } : { name: `${farm}-worker-${String(i).padStart(2, '0')}`, role: 'worker' as const }));
}
