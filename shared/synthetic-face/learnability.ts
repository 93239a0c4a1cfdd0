// Learnability: the four knobs that trade realism for how fast a small model learns the synthetic
// set. The first two scale the expression cues (expression.ts), the last two the nuisance
// variation (face-plan.ts).
//
// The demo recipe (the small CNN trained from scratch at 64x64, batch 128, Adam 1e-3,
// 4000 images: 25 steps an epoch) learns within a few epochs only cues that move whole-image colour
// statistics; on the realistic variant (all four factors 1) it stayed at the majority class (0.388)
// for 20 epochs. With these values it passed 0.80 val accuracy by epoch 4 and reached 0.875-0.93
// by epoch 5 (three seeds), epoch 1 staying below 0.5. Bump SYNTHETIC_FACE_VERSION with any change.

/** Scales the geometric cues (mouth, brows, eyes) relative to their FACS prototypes. */
export const SHAPE_CUE_GAIN = 1.5;
/** Scales the facial colour cue: 1 is a plausible flush or pallor, 3 and up a colour code. */
export const COLOUR_CUE_GAIN = 3.5;
/** Scales pose, lighting, background-texture and sensor-noise variation (1 = full ranges). */
export const NUISANCE = 0.5;
/** Scales skin-tone and background-colour variety (1 = full palettes; hair varies from 0.5). */
export const COLOUR_VARIETY = 0.3;
