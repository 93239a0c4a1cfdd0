// Building an ONNX model (ModelProto) node by node, encoded by onnx-proto's generated protobufjs
// classes rather than by hand. Tensors are float32 initializers in raw little-endian bytes;
// shapes are carried by the converters, so value_info is left to the runtime's inference.

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

/** ONNX's default-domain opset the graphs are written for: Softmax on one axis, Pad's pads as an input (both opset 13). */
export const OPSET = 13;

export type AttributeValue = number | number[] | string | { float: number };

export interface GraphInterface {
  name: string;
  /** Fixed sizes, with the string naming a free (batch) dimension. */
  shape: Array<number | string>;
}

export class OnnxGraph {
  private readonly nodes: INodeProto[] = [];
  private readonly initializers: ITensorProto[] = [];
  private readonly names = new Set<string>();

  /** A name not used yet in the graph, from `base`. */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Reserves a name that must be exactly this (a layer's output, the graph's input). */
  claimName(name: string): string {
    if (this.names.has(name)) return this.uniqueName(name);
    this.names.add(name);
    return name;
  }

  floatInitializer(base: string, dims: readonly number[], values: Float32Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== values.length) throw new RangeError(`initializer ${base}: ${values.length} values for dims [${dims}]`);
    const name = this.uniqueName(base);
    this.initializers.push({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: littleEndianBytes(values) });
    return name;
  }

  int64Initializer(base: string, values: readonly number[]): string {
    const name = this.uniqueName(base);
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: littleEndianBytes(BigInt64Array.from(values, BigInt)) });
    return name;
  }

  /**
   * Adds a node; its output is named after `output` (made unique). Returns the output's name.
   * `unusedOutputs` names optional outputs the node must still produce (see MaxPool's indices).
   */
  node(opType: string, inputs: readonly string[], output: string, attributes: Record<string, AttributeValue> = {}, unusedOutputs: readonly string[] = []): string {
    const outputName = this.names.has(output) ? this.uniqueName(output) : this.claimName(output);
    this.nodes.push({
      opType,
      name: `${opType}_${outputName}`,
      input: [...inputs],
      output: [outputName, ...unusedOutputs.map((name) => this.uniqueName(name))],
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return outputName;
  }

  /** The encoded model: `input` and `output` are float32 tensors. */
  encode(input: GraphInterface, output: GraphInterface, options: { graphName: string; docString: string; metadata: Record<string, string> }): Uint8Array {
    const valueInfo = ({ name, shape }: GraphInterface) => ({
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    const model = onnx.ModelProto.create({
      irVersion: onnx.Version.IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'emotrain',
      producerVersion: '0.1.0',
      docString: options.docString,
      graph: {
        name: options.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: [valueInfo(input)],
        output: [valueInfo(output)],
      },
      metadataProps: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function attribute(name: string, value: AttributeValue): IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'object') return { name, type: AttributeType.FLOAT, f: value.float };
  if (!Number.isInteger(value)) throw new RangeError(`attribute ${name}: ${value} is not an integer; pass { float } for a float attribute`);
  return { name, type: AttributeType.INT, i: value };
}

/** The bytes of a typed array in little-endian order, as raw_data wants them. */
function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(values.byteLength);
  const view = new DataView(bytes.buffer);
  if (values instanceof Float32Array) values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else values.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return bytes;
}
