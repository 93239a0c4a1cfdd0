// Shared memory for sample bytes: copied once out of the gRPC message that brought them (or the
// file they were read from) into SharedArrayBuffer blocks, so that the data threads read them in
// place — posting a view of shared memory to a thread neither copies nor transfers it, where
// posting a view of an ordinary buffer would copy the whole message it is a slice of.

const BLOCK_BYTES = 4 * 1024 * 1024;

export class SharedByteArena {
  private block = new Uint8Array(new SharedArrayBuffer(BLOCK_BYTES));
  private used = 0;

  /** A shared-memory copy of `bytes`. */
  store(bytes: Uint8Array): Uint8Array {
    if (bytes.byteLength > BLOCK_BYTES / 4) {
      const own = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
      own.set(bytes);
      return own;
    }
    if (this.used + bytes.byteLength > this.block.byteLength) {
      this.block = new Uint8Array(new SharedArrayBuffer(BLOCK_BYTES));
      this.used = 0;
    }
    const view = this.block.subarray(this.used, this.used + bytes.byteLength);
    view.set(bytes);
    this.used += bytes.byteLength;
    return view;
  }
}
