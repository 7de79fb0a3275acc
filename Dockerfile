# One image for every role: `npm run api` (default) or `npm run worker`.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json tsconfig.json ./
COPY packages/ packages/
COPY apps/ apps/
# The docs/surfaces pages that /docs links to.
COPY docs/ docs/
RUN npm ci --omit=dev --no-audit --no-fund
USER node
CMD ["npm", "run", "api"]
