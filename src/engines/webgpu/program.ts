/// <reference types="@webgpu/types" />

/**
 * A compute program's interface, declared once: its storage bindings (in binding order) and its
 * uniform fields. The WGSL header, the uniform bytes and the bind group entries are all
 * generated from it, so a binding's position or a field's offset is never written by hand.
 */
export interface ProgramDescriptor<B extends string, U extends string> {
  /** Storage buffers at @binding(0..n-1) of group 0, in this order; the uniform struct follows. */
  readonly bindings: readonly { readonly name: B; readonly access: 'read' | 'read_write'; readonly element: 'f32' | 'u32' }[];
  /** The uniform struct `Params`, one 4-byte field each, in this order (padded to 16 bytes). */
  readonly uniforms: readonly { readonly name: U; readonly type: 'u32' | 'f32' }[];
}

export function defineProgram<B extends string, U extends string>(descriptor: ProgramDescriptor<B, U>): ProgramDescriptor<B, U> {
  return descriptor;
}

/** Bytes of the uniform buffer: four per field, rounded up to 16. */
export function uniformBytes(p: ProgramDescriptor<string, string>): number {
  return Math.max(16, Math.ceil((4 * p.uniforms.length) / 16) * 16);
}

/** The WGSL declarations: `struct Params` and every binding, `params` last. */
export function wgslHeader(p: ProgramDescriptor<string, string>): string {
  const fields = p.uniforms.map((u) => `  ${u.name}: ${u.type},`);
  const bindings = p.bindings.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${b.element}>;`);
  return `struct Params {\n${fields.join('\n')}\n}\n\n${bindings.join('\n')}\n@group(0) @binding(${p.bindings.length}) var<uniform> params: Params;`;
}

/** The uniform buffer's bytes from the named values (every field must be given). */
export function packUniforms<U extends string>(p: ProgramDescriptor<string, U>, values: Readonly<Record<U, number>>): ArrayBuffer {
  const data = new ArrayBuffer(uniformBytes(p));
  const view = new DataView(data);
  p.uniforms.forEach((u, i) => {
    const v = values[u.name];
    if (u.type === 'u32') {
      if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new RangeError(`uniform ${u.name} must be a u32, got ${v}`);
      view.setUint32(4 * i, v, true);
    } else {
      view.setFloat32(4 * i, v, true);
    }
  });
  return data;
}

/** Bind group entries in the descriptor's order, the uniform buffer last. */
export function bindGroupEntries<B extends string>(p: ProgramDescriptor<B, string>, buffers: Readonly<Record<B, GPUBuffer>>, params: GPUBuffer): GPUBindGroupEntry[] {
  return [...p.bindings.map((b) => buffers[b.name]), params].map((buffer, binding) => ({ binding, resource: { buffer } }));
}
