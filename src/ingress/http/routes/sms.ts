import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError } from '../../../errors.ts';
import { segment } from '../../../sms/encoding.ts';
import { requireAuth } from '../auth.ts';
import { ErrorSchema, SegmentsBodySchema, SegmentsResultSchema } from '../schemas.ts';

export const smsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/sms/segments',
    {
      schema: {
        summary: 'Preview encoding and parts',
        description: 'Answers, without sending, how a text will be encoded and split into SMS parts.',
        tags: ['sms'],
        security: [{ bearerAuth: [] }],
        body: SegmentsBodySchema,
        response: { 200: SegmentsResultSchema, 400: ErrorSchema, 401: ErrorSchema, 422: ErrorSchema },
      },
    },
    async (request) => {
      const auth = requireAuth(request);
      let result;
      try {
        result = segment(request.body.text, { encoding: request.body.encoding ?? 'auto' });
      } catch (err) {
        if (err instanceof RangeError) throw new ApiError('encoding_not_possible', err.message, [{ field: 'text', issue: err.message }]);
        throw err;
      }
      return {
        encoding: result.encoding,
        characters: result.characters,
        units: result.units,
        units_per_part: result.unitsPerPart,
        parts_count: result.parts.length,
        max_parts: auth.account.max_parts,
        parts: result.parts,
      };
    },
  );
};
